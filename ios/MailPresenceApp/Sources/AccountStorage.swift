// The account settings: fields in UserDefaults (the TLS modes, the SMTP
// host, the server key and the CA file's path included), the password in a
// password store (the Keychain in the app). Foundation only, so the test command
// type-checks this file against the bindings on Linux.
import Foundation
import MailPresence
import MailPresenceUI

/// Where the password lives; the app's is the Keychain (Keychain.swift).
protocol PasswordStore {
    func read(account: String) -> String?
    func write(account: String, password: String)
}

final class AccountStorage: AccountVault {
    private static let keys = ["account", "mail", "presenceServer", "mailHost", "imapPort", "smtpPort", "authservId",
                               "smtpHost", "serverKey", "caFile"]
    private static let modes: [String: TlsMode] = ["implicit": .implicit, "starttls": .starttls, "none": TlsMode.none]
    private let defaults: UserDefaults
    private let passwords: PasswordStore

    init(defaults: UserDefaults = .standard, passwords: PasswordStore) {
        self.defaults = defaults
        self.passwords = passwords
    }

    func load() -> AccountForm? {
        let d = defaults
        guard let account = d.string(forKey: "account") else { return nil }
        var f = AccountForm()
        f.account = account
        f.mail = d.string(forKey: "mail") ?? ""
        f.presenceServer = d.string(forKey: "presenceServer") ?? ""
        f.mailHost = d.string(forKey: "mailHost") ?? ""
        f.imapPort = d.string(forKey: "imapPort") ?? "993"
        f.smtpPort = d.string(forKey: "smtpPort") ?? "587"
        f.authservId = d.string(forKey: "authservId") ?? ""
        f.smtpHost = d.string(forKey: "smtpHost") ?? ""
        f.serverKey = d.string(forKey: "serverKey") ?? ""
        f.caFile = d.string(forKey: "caFile") ?? ""
        f.imapSecurity = Self.modes[d.string(forKey: "imapSecurity") ?? ""] ?? .implicit
        f.smtpSecurity = Self.modes[d.string(forKey: "smtpSecurity") ?? ""] ?? .starttls
        f.password = passwords.read(account: f.mail) ?? ""
        if let kind = ["microsoft": ProviderKind.microsoft, "google": .google][d.string(forKey: "signInProvider") ?? ""] {
            f.signIn = ProviderConfig(provider: kind, clientId: d.string(forKey: "signInClientId") ?? "", tenant: d.string(forKey: "signInTenant"),
                                      scopes: nil, authorizeUrl: nil, tokenUrl: nil, deviceAuthorizationUrl: nil, revocationUrl: nil)
        }
        f.granularity = ["off": .off, "district": .district, "street": .street][d.string(forKey: "granularity") ?? ""] ?? .city
        return f
    }

    func save(_ f: AccountForm) {
        for (key, value) in zip(Self.keys, [f.account, f.mail, f.presenceServer, f.mailHost, f.imapPort, f.smtpPort, f.authservId,
                                            f.smtpHost, f.serverKey, f.caFile]) {
            defaults.set(value, forKey: key)
        }
        for (key, mode) in [("imapSecurity", f.imapSecurity), ("smtpSecurity", f.smtpSecurity)] {
            defaults.set(Self.modes.first { $0.value == mode }?.key, forKey: key)
        }
        let g: String
        switch f.granularity {
        case .off: g = "off"
        case .city: g = "city"
        case .district: g = "district"
        case .street: g = "street"
        }
        defaults.set(g, forKey: "granularity")
        // The sign-in's provider (no secret: the refresh token is in the Keychain).
        defaults.set(f.signIn.map { $0.provider == .google ? "google" : "microsoft" }, forKey: "signInProvider")
        defaults.set(f.signIn?.clientId, forKey: "signInClientId")
        defaults.set(f.signIn?.tenant, forKey: "signInTenant")
        passwords.write(account: f.mail, password: f.password)
    }
}
