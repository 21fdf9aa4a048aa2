// The Account screen's fields, checked before anything is saved or tested,
// and turned into the core's AccountConfig: the TLS mode a port needs (the
// form picks it, and refuses a mismatch), the company CA file, how a Notify
// is proven (the mail system's authserv-id, or the server key from the
// enrolment). The screen draws its text fields from `fields`, which says for
// each whether the keyboard may correct or capitalise it. The password
// itself lives in the Keychain; the app passes it in here only to build the
// configuration.
import Foundation
import MailPresence

public struct AccountForm: Equatable {
    public enum Field: Hashable, Sendable {
        case account, mail, password, presenceServer, mailHost, imapPort, smtpPort, authservId
        case smtpHost, imapSecurity, smtpSecurity, serverKey, caFile
    }
    public struct Problem: Equatable, Sendable { public let field: Field; public let text: String }

    /// What a text field holds, for the keyboard the app shows.
    public enum Input: Equatable, Sendable { case name, mailAddress, host, port, password, key, file }

    /// One text field as the app draws it. Hosts, addresses, keys and names
    /// are typed exactly: no autocorrect, no capital first letter.
    public struct FieldSpec: Equatable, Sendable {
        public let field: Field
        public let label: String
        public let input: Input
        public let autoCorrect: Bool
        public let autoCapitalize: Bool
    }

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
    /// A PEM file with the company's CA (the app copies the picked file into
    /// its storage), when the mail servers' certificates are not public.
    public var caFile = ""

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
        if !Self.looksLikeHost(mailHost) { say(.mailHost, "メールサーバー名を入力してください", "Enter the mail server's name") }
        if !smtpHost.trimmed.isEmpty && !Self.looksLikeHost(smtpHost) { say(.smtpHost, "SMTP サーバー名が正しくありません", "The SMTP server's name is not a host name") }
        if Self.port(imapPort) == nil { say(.imapPort, "ポート番号は1〜65535です", "A port is 1 to 65535") }
        if Self.port(smtpPort) == nil { say(.smtpPort, "ポート番号は1〜65535です", "A port is 1 to 65535") }
        if let why = Self.tlsProblem(Self.port(imapPort), imapSecurity, mailHost, Self.imapPorts) { say(.imapSecurity, why.0, why.1) }
        if let why = Self.tlsProblem(Self.port(smtpPort), smtpSecurity, smtpHost.trimmed.isEmpty ? mailHost : smtpHost, Self.smtpPorts) {
            say(.smtpSecurity, why.0, why.1)
        }
        let key = serverKey.trimmed
        if !key.isEmpty && !Self.looksLikeServerKey(key) {
            say(.serverKey, "サーバーの公開鍵が正しくありません。登録用コードを読み取り直してください", "The server key is not a key. Scan the enrolment code again")
        }
        if key.isEmpty && !Self.looksLikeAuthservId(authservId) {
            say(.authservId,
                "メールシステムの authserv-id（例: mx.example.co.jp）を入力してください。これがないと同僚のプレゼンスを表示できません。社内の情報システム担当に確認してください",
                "Enter the mail system's authserv-id (e.g. mx.example.co.jp): without it no colleague's presence can be shown. Ask your IT department")
        }
        if !key.isEmpty && !authservId.trimmed.isEmpty && !Self.looksLikeAuthservId(authservId) {
            say(.authservId, "authserv-id はホスト名の形（例: mx.example.co.jp）です", "An authserv-id looks like a host name (e.g. mx.example.co.jp)")
        }
        if !caFile.trimmed.isEmpty && !Self.holdsCertificate(caFile.trimmed) {
            say(.caFile, "このファイルには証明書（PEM 形式）がありません。情報システム担当から受け取った CA 証明書を選んでください",
                "This file holds no certificate (PEM). Choose the CA certificate your IT department gave you")
        }
        return out
    }

    /// The core's configuration; only call when `problems` is empty.
    public func config(_ lang: Lang) -> AccountConfig {
        func server(_ port: String, _ tls: TlsMode, _ host: String? = nil) -> MailServer {
            MailServer(host: (host ?? mailHost).trimmed, port: UInt16(Self.port(port) ?? 0), tls: tls,
                             user: mail.trimmed, password: signIn == nil ? password : nil, caFile: caFile.trimmed.isEmpty ? nil : caFile.trimmed)
        }
        return AccountConfig(account: account.trimmed, mail: mail.trimmed, presenceServer: presenceServer.trimmed,
                             language: lang.rawValue, imap: server(imapPort, imapSecurity), smtp: server(smtpPort, smtpSecurity, smtpHost.trimmed.isEmpty ? nil : smtpHost),
                             granularity: granularity, authservId: authservId.trimmed.isEmpty ? nil : authservId.trimmed, oauth: signIn,
                             serverKey: serverKey.trimmed.isEmpty ? nil : serverKey.trimmed)
    }

    /// The IMAP port typed; a well-known one brings its TLS mode (993: SSL/TLS, 143: STARTTLS).
    public func withImapPort(_ text: String) -> AccountForm {
        var f = self
        f.imapPort = text
        if let p = Self.port(text), let mode = Self.imapPorts[p] { f.imapSecurity = mode }
        return f
    }

    /// The SMTP port typed; a well-known one brings its TLS mode (465: SSL/TLS, 587 and 25: STARTTLS).
    public func withSmtpPort(_ text: String) -> AccountForm {
        var f = self
        f.smtpPort = text
        if let p = Self.port(text), let mode = Self.smtpPorts[p] { f.smtpSecurity = mode }
        return f
    }

    /// The IMAP TLS mode chosen; a well-known port of the other mode follows (993 ⇄ 143).
    public func withImapSecurity(_ mode: TlsMode) -> AccountForm {
        var f = self
        f.imapSecurity = mode
        f.imapPort = Self.followPort(imapPort, mode, Self.imapPorts)
        return f
    }

    /// The SMTP TLS mode chosen; a well-known port of the other mode follows (465 ⇄ 587).
    public func withSmtpSecurity(_ mode: TlsMode) -> AccountForm {
        var f = self
        f.smtpSecurity = mode
        f.smtpPort = Self.followPort(smtpPort, mode, Self.smtpPorts)
        return f
    }

    /// How a colleague's Notify is proven, in words for the screen.
    public func proof(_ lang: Lang) -> String {
        if !serverKey.trimmed.isEmpty {
            return lang == .ja ? "プレゼンスサーバーの署名で確認します（登録済み）" : "Proven by the presence server's signature (enrolled)"
        }
        return lang == .ja ? "会社のメールシステムの判定（authserv-id）で確認します" : "Proven by the company mail system's verdict (authserv-id)"
    }

    /// The text fields in the order the screen shows them (no password with a sign-in).
    public func fields(_ lang: Lang) -> [FieldSpec] {
        func spec(_ f: Field, _ ja: String, _ en: String, _ input: Input) -> FieldSpec {
            FieldSpec(field: f, label: lang == .ja ? ja : en, input: input, autoCorrect: false, autoCapitalize: false)
        }
        var out = [spec(.account, "アカウント名", "Account name", .name),
                   spec(.mail, "メールアドレス", "Mail address", .mailAddress)]
        if signIn == nil { out.append(spec(.password, "パスワード", "Password", .password)) }
        out += [spec(.presenceServer, "プレゼンスサーバーのアドレス", "Presence server address", .mailAddress),
                spec(.mailHost, "メールサーバー", "Mail server", .host),
                spec(.imapPort, "IMAP ポート", "IMAP port", .port),
                spec(.smtpHost, "SMTP サーバー（別の場合）", "SMTP server (if different)", .host),
                spec(.smtpPort, "SMTP ポート", "SMTP port", .port),
                spec(.authservId, "メールシステムの authserv-id（情報システム担当に確認）", "Mail system's authserv-id (ask IT)", .host),
                spec(.serverKey, "プレゼンスサーバーの公開鍵（登録用コードから）", "Presence server key (from the enrolment code)", .key),
                spec(.caFile, "会社の CA 証明書ファイル", "Company CA certificate file", .file)]
        return out
    }

    /// A text field's value, for the app's loop over `fields`.
    public func value(_ field: Field) -> String {
        switch field {
        case .account: return account
        case .mail: return mail
        case .password: return password
        case .presenceServer: return presenceServer
        case .mailHost: return mailHost
        case .imapPort: return imapPort
        case .smtpHost: return smtpHost
        case .smtpPort: return smtpPort
        case .authservId: return authservId
        case .serverKey: return serverKey
        case .caFile: return caFile
        case .imapSecurity, .smtpSecurity: return ""
        }
    }

    /// The form with a text field typed (ports bring their TLS mode).
    public func with(_ field: Field, _ text: String) -> AccountForm {
        var f = self
        switch field {
        case .account: f.account = text
        case .mail: f.mail = text
        case .password: f.password = text
        case .presenceServer: f.presenceServer = text
        case .mailHost: f.mailHost = text
        case .imapPort: return withImapPort(text)
        case .smtpHost: f.smtpHost = text
        case .smtpPort: return withSmtpPort(text)
        case .authservId: f.authservId = text
        case .serverKey: f.serverKey = text
        case .caFile: f.caFile = text
        case .imapSecurity, .smtpSecurity: break
        }
        return f
    }

    /// The TLS modes a picker offers, with their names.
    public static func securityChoices(_ lang: Lang) -> [(TlsMode, String)] {
        [(TlsMode.implicit, "SSL/TLS"), (TlsMode.starttls, "STARTTLS"),
         (TlsMode.none, lang == .ja ? "なし（暗号化しない）" : "None (not encrypted)")]
    }

    /// The well-known ports and the TLS mode each needs.
    static let imapPorts: [Int: TlsMode] = [993: .implicit, 143: .starttls]
    static let smtpPorts: [Int: TlsMode] = [465: .implicit, 587: .starttls, 25: .starttls]

    static func followPort(_ text: String, _ mode: TlsMode, _ known: [Int: TlsMode]) -> String {
        guard let now = port(text), let needed = known[now], needed != mode else { return text }
        return known.filter { $0.value == mode }.keys.sorted().last.map(String.init) ?? text
    }

    /// Why `mode` cannot work on `port` of `host`, in both languages, or nil.
    static func tlsProblem(_ port: Int?, _ mode: TlsMode, _ host: String, _ known: [Int: TlsMode]) -> (String, String)? {
        let needed = port.flatMap { known[$0] }
        let implicitPort = known.first { $0.value == .implicit }?.key ?? 0
        if needed == .implicit && mode != .implicit, let port {
            return ("ポート\(port)は SSL/TLS（接続時から暗号化）が必要です", "Port \(port) needs SSL/TLS (encrypted from the start)")
        }
        if needed == .starttls && mode == .implicit, let port {
            return ("ポート\(port)は STARTTLS で暗号化します。SSL/TLS にはポート\(implicitPort)を使います",
                    "Port \(port) starts TLS with STARTTLS; SSL/TLS uses port \(implicitPort)")
        }
        if mode == TlsMode.none && !isLoopback(host) {
            return ("暗号化しないとパスワードがそのまま送られます。SSL/TLS か STARTTLS を選んでください",
                    "Without encryption the password goes out as it is. Choose SSL/TLS or STARTTLS")
        }
        return nil
    }

    static func isLoopback(_ host: String) -> Bool {
        let h = host.trimmed
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    static func holdsCertificate(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.contains("-----BEGIN CERTIFICATE-----")
    }

    static func looksLikeHost(_ s: String) -> Bool { !s.trimmed.isEmpty && !s.trimmed.contains(where: { $0.isWhitespace }) }

    /// An Ed25519 public key in base64url, as the enrolment code carries it.
    static func looksLikeServerKey(_ s: String) -> Bool {
        s.count == 43 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
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
