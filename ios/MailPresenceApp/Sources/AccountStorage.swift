// The account settings: fields in UserDefaults, the password in the Keychain.
import Foundation
import MailPresenceUI
import Security

enum AccountStorage {
    private static let keys = ["account", "mail", "presenceServer", "mailHost", "imapPort", "smtpPort"]

    static func load() -> AccountForm? {
        let d = UserDefaults.standard
        guard let account = d.string(forKey: "account") else { return nil }
        var f = AccountForm()
        f.account = account
        f.mail = d.string(forKey: "mail") ?? ""
        f.presenceServer = d.string(forKey: "presenceServer") ?? ""
        f.mailHost = d.string(forKey: "mailHost") ?? ""
        f.imapPort = d.string(forKey: "imapPort") ?? "993"
        f.smtpPort = d.string(forKey: "smtpPort") ?? "587"
        f.password = Keychain.read(account: f.mail) ?? ""
        f.granularity = ["off": .off, "district": .district, "street": .street][d.string(forKey: "granularity") ?? ""] ?? .city
        return f
    }

    static func save(_ f: AccountForm) {
        let d = UserDefaults.standard
        for (key, value) in zip(keys, [f.account, f.mail, f.presenceServer, f.mailHost, f.imapPort, f.smtpPort]) {
            d.set(value, forKey: key)
        }
        let g: String
        switch f.granularity {
        case .off: g = "off"
        case .city: g = "city"
        case .district: g = "district"
        case .street: g = "street"
        }
        d.set(g, forKey: "granularity")
        Keychain.write(account: f.mail, password: f.password)
    }
}

enum Keychain {
    private static let service = "org.mailpresence.mail"

    static func write(account: String, password: String) {
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service, kSecAttrAccount as String: account]
        SecItemDelete(query as CFDictionary)
        var add = query
        add[kSecValueData as String] = Data(password.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlock
        SecItemAdd(add as CFDictionary, nil)
    }

    static func read(account: String) -> String? {
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service,
                                    kSecAttrAccount as String: account, kSecReturnData as String: true]
        var out: AnyObject?
        guard SecItemCopyMatching(query as CFDictionary, &out) == errSecSuccess, let data = out as? Data else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
