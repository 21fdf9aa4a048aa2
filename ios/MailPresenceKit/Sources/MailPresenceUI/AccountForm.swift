// The Account screen's fields, checked before anything is saved, and turned
// into the core's AccountConfig. The password itself lives in the Keychain;
// the app passes it in here only to build the configuration.
import Foundation
import MailPresence

public struct AccountForm: Equatable {
    public enum Field: Hashable { case account, mail, password, presenceServer, mailHost, imapPort, smtpPort, authservId }
    public struct Problem: Equatable { public let field: Field; public let text: String }

    public var account = "", mail = "", password = "", presenceServer = "", mailHost = ""
    public var imapPort = "993", smtpPort = "587"
    public var imapSecurity = TlsMode.implicit, smtpSecurity = TlsMode.starttls
    public var granularity = Granularity.city
    /// The authserv-id the company's mail system stamps (`mx.example.co.jp`):
    /// the core believes a Notify only as that system proved it, so without
    /// it no colleague's presence can be shown.
    public var authservId = ""
    /// Microsoft 365 / Google Workspace: the worker signs in (MailSignIn)
    /// instead of typing a password; the core reads the refresh token from
    /// the app's TokenStorage (`PresenceClient.withSignIn`).
    public var signIn: ProviderConfig?
    /// The SMTP server when it is not `mailHost` (Gmail: smtp.gmail.com); empty: the same.
    public var smtpHost = ""
    /// The presence server's public key from the enrolment code: a Notify
    /// then counts only with its signature. Empty before enrolment.
    public var serverKey = ""

    public init() {}

    public func problems(_ lang: Lang) -> [Problem] {
        var out: [Problem] = []
        func say(_ f: Field, _ ja: String, _ en: String) { out.append(Problem(field: f, text: lang == .ja ? ja : en)) }
        let name = account.trimmed
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) {
            say(.account, "アカウント名は英数字・「.」「_」「-」で入力してください", "Use letters, digits, '.', '_' or '-' for the account name")
        }
        if !Self.looksLikeMail(mail) { say(.mail, "メールアドレスの形式が正しくありません", "This is not a mail address") }
        if signIn == nil && password.isEmpty { say(.password, "パスワードを入力してください", "Enter the password") }
        if !Self.looksLikeMail(presenceServer) { say(.presenceServer, "プレゼンスサーバーのアドレスが正しくありません", "The presence server's address is not a mail address") }
        if mailHost.trimmed.isEmpty || mailHost.contains(" ") { say(.mailHost, "メールサーバー名を入力してください", "Enter the mail server's name") }
        if Self.port(imapPort) == nil { say(.imapPort, "ポート番号は1〜65535です", "A port is 1 to 65535") }
        if Self.port(smtpPort) == nil { say(.smtpPort, "ポート番号は1〜65535です", "A port is 1 to 65535") }
        if !Self.looksLikeAuthservId(authservId) {
            say(.authservId,
                "メールシステムの authserv-id（例: mx.example.co.jp）を入力してください。これがないと同僚のプレゼンスを表示できません。社内の情報システム担当に確認してください",
                "Enter the mail system's authserv-id (e.g. mx.example.co.jp): without it no colleague's presence can be shown. Ask your IT department")
        }
        return out
    }

    /// The core's configuration; only call when `problems` is empty.
    public func config(_ lang: Lang) -> AccountConfig {
        func server(_ port: String, _ tls: TlsMode, _ host: String? = nil) -> MailServer {
            MailServer(host: (host ?? mailHost).trimmed, port: UInt16(Self.port(port) ?? 0), tls: tls,
                             user: mail.trimmed, password: signIn == nil ? password : nil, caFile: nil)
        }
        return AccountConfig(account: account.trimmed, mail: mail.trimmed, presenceServer: presenceServer.trimmed,
                             language: lang.rawValue, imap: server(imapPort, imapSecurity), smtp: server(smtpPort, smtpSecurity, smtpHost.trimmed.isEmpty ? nil : smtpHost),
                             granularity: granularity, authservId: authservId.trimmed, oauth: signIn,
                             serverKey: serverKey.trimmed.isEmpty ? nil : serverKey.trimmed)
    }

    /// The form as a scanned enrolment code fills it (read by the core:
    /// `readEnrolmentCode`); only the password is left, unless the code
    /// names the company's sign-in.
    public static func fromEnrolment(_ code: EnrolmentCode) -> AccountForm {
        var f = AccountForm()
        f.account = code.account
        f.mail = code.mail
        f.presenceServer = code.presenceServer
        f.mailHost = code.imap.host
        f.imapPort = String(code.imap.port)
        f.imapSecurity = code.imap.tls
        f.smtpHost = code.smtp.host == code.imap.host ? "" : code.smtp.host
        f.smtpPort = String(code.smtp.port)
        f.smtpSecurity = code.smtp.tls
        f.authservId = code.authservId ?? ""
        f.signIn = code.signIn
        f.serverKey = code.serverKey
        return f
    }

    /// The form with what the core found from the mail address alone
    /// (`findMailSettings`): hosts, ports and TLS, and the sign-in where the
    /// company's provider is one the app has a registration for.
    public func withSettings(_ found: MailSettings, registration: (ProviderKind, String?) -> ProviderConfig?) -> AccountForm {
        var f = self
        f.mailHost = found.imap.host
        f.imapPort = String(found.imap.port)
        f.imapSecurity = found.imap.tls
        f.smtpHost = found.smtp.host == found.imap.host ? "" : found.smtp.host
        f.smtpPort = String(found.smtp.port)
        f.smtpSecurity = found.smtp.tls
        if let hint = found.signIn, let provider = registration(hint.provider, hint.tenant) { f.signIn = provider }
        return f
    }

    static func looksLikeMail(_ s: String) -> Bool {
        let t = s.trimmed
        guard let at = t.firstIndex(of: "@"), at != t.startIndex else { return false }
        let domain = t[t.index(after: at)...]
        return domain.contains(".") && !domain.hasPrefix(".") && !t.hasSuffix(".") && !t.contains(where: { $0.isWhitespace })
    }

    /// An authserv-id as mail systems write it: a host name, no spaces or `;`.
    static func looksLikeAuthservId(_ s: String) -> Bool {
        let t = s.trimmed
        return (1...253).contains(t.count)
            && t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    static func port(_ s: String) -> Int? {
        guard let p = Int(s.trimmed), (1...65535).contains(p) else { return nil }
        return p
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
