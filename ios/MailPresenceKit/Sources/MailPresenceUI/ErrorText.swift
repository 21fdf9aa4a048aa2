// The core's errors in words a field worker can act on.
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
        case (.Certificate, .ja): return "メールサーバーの証明書を信頼できません。管理者にお問い合わせください。"
        case (.Certificate, .en): return "The mail server's certificate is not trusted. Ask your administrator."
        case (.InvalidInput, .ja): return "入力内容を確認してください。"
        case (.InvalidInput, .en): return "Please check what you entered."
        case (.Storage, .ja): return "端末の保存領域に書き込めません。"
        case (.Storage, .en): return "The phone's storage cannot be written."
        case (.Protocol, .ja): return "メールサーバーとの通信でエラーが発生しました。"
        case (.Protocol, .en): return "The mail server answered with an error."
        }
    }
}
