// The core's errors in words a field worker can act on: what happened and
// what to do, in Japanese and English; and the outbox, which fills while
// nothing can be sent.
import MailPresence

public enum ErrorText {
    public static func of(_ e: PresenceError, _ lang: Lang) -> String {
        switch (e, lang) {
        case (.SignInAgain, .ja): return "会社のアカウントへのサインインが切れました。もう一度サインインしてください。送信は保留されています。"
        case (.SignInAgain, .en): return "Your sign-in to the company account has ended. Please sign in again; your changes wait until then."
        case (.WrongPassword, .ja): return "メールサーバーにログインできません。ユーザー名とパスワードを確認してください。"
        case (.WrongPassword, .en): return "The mail server refused the login. Check the user name and password."
        case (.Unreachable, .ja): return "メールサーバーに接続できません。電波の良い場所で再度お試しください。送信は保留されています。"
        case (.Unreachable, .en): return "The mail server cannot be reached. Your changes wait and go out when the network is back."
        case (.Certificate, .ja): return "メールサーバーの証明書を信頼できません。端末の日時が正しいか確認し、会社の CA 証明書が必要な場合はアカウント画面で設定してください。解決しない場合は管理者にお問い合わせください。"
        case (.Certificate, .en): return "The mail server's certificate is not trusted. Check the phone's date and time; if your company uses its own CA, set its certificate on the Account screen. Otherwise ask your administrator."
        case (.InvalidInput, .ja): return "入力内容を確認してください。"
        case (.InvalidInput, .en): return "Please check what you entered."
        case (.Storage, .ja): return "端末の保存領域に書き込めません。"
        case (.Storage, .en): return "The phone's storage cannot be written."
        case (.Protocol, .ja): return "メールサーバーとの通信でエラーが発生しました。"
        case (.Protocol, .en): return "The mail server answered with an error."
        }
    }

    /// From this many mails waiting, the outbox counts as full: nothing has
    /// gone out for a while, and the worker should know why.
    public static let outboxFull: UInt32 = 20

    public static func isOutboxFull(_ depth: UInt32) -> Bool { depth >= outboxFull }

    /// The mails waiting to be sent, in words (nil when none wait); a full
    /// outbox says what to do.
    public static func outbox(_ depth: UInt32, _ lang: Lang) -> String? {
        if depth == 0 { return nil }
        if isOutboxFull(depth) {
            return lang == .ja
                ? "送信待ちのメールが\(depth)件たまっています。しばらく送信できていません。電波の良い場所でアプリを開いてください。続く場合はアカウント画面の「接続テスト」で原因を確認してください。"
                : "\(depth) mails are waiting: nothing has gone out for a while. Open the app where the network is good; if it goes on, use Test connection on the Account screen to see why."
        }
        return lang == .ja ? "送信待ち \(depth)件" : "\(depth) waiting to be sent"
    }
}
