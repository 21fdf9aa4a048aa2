// What Swift's reflection shows of the values that carry a password.
// `print` and string interpolation already go through the core's Display and
// Debug, which leave the password out; `dump()`, the debugger's `po` of a
// containing value and SwiftUI's previews walk the stored properties
// instead, so these mirrors leave it out too.
import MailPresence

extension MailServer: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "tls": tls, "user": user as Any,
            "password": password == nil ? "none" : "(hidden)", "caFile": caFile as Any,
        ], displayStyle: .struct)
    }
}

extension AccountForm: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(self, children: [
            "account": account, "mail": mail, "password": password.isEmpty ? "" : "(hidden)",
            "presenceServer": presenceServer, "mailHost": mailHost, "imapPort": imapPort,
            "smtpPort": smtpPort, "imapSecurity": imapSecurity, "smtpSecurity": smtpSecurity,
            "granularity": granularity, "authservId": authservId, "smtpHost": smtpHost,
            "serverKey": serverKey, "caFile": caFile,
        ], displayStyle: .struct)
    }
}
