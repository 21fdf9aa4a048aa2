// "Sign in with Microsoft" / "Sign in with Google": the provider's page in an
// ASWebAuthenticationSession, which returns the redirect the app owns
// (org.mailpresence.app:/oauth2redirect) to MailSignIn; the refresh token in
// the Keychain, readable after the first unlock (background refresh).
import AuthenticationServices
import Foundation
import MailPresence
import MailPresenceUI
import Security
import UIKit

/// The Keychain as the core's TokenStorage.
final class KeychainTokens: TokenStorage, @unchecked Sendable {
    private let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                        kSecAttrService as String: "org.mailpresence.sign-in",
                                        kSecAttrAccount as String: "refresh_token"]

    func load() -> String? {
        var q = query
        q[kSecReturnData as String] = true
        var out: AnyObject?
        guard SecItemCopyMatching(q as CFDictionary, &out) == errSecSuccess, let data = out as? Data else { return nil }
        return String(data: data, encoding: .utf8)
    }

    func save(token: String) {
        SecItemDelete(query as CFDictionary)
        var add = query
        add[kSecValueData as String] = Data(token.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        SecItemAdd(add as CFDictionary, nil)
    }

    func clear() { SecItemDelete(query as CFDictionary) }
}

/// Runs one browser sign-in; the window it shows over is the key window.
@MainActor
final class SignInSession: NSObject, ASWebAuthenticationPresentationContextProviding {
    static let redirectURI = "org.mailpresence.app:/oauth2redirect"
    private var session: ASWebAuthenticationSession?

    /// The redirect address, or nil when the worker closed the sheet.
    func run(_ signIn: MailSignIn) async throws -> String? {
        let url = try signIn.start()
        guard let page = URL(string: url) else { return nil }
        return await withCheckedContinuation { done in
            let s = ASWebAuthenticationSession(url: page, callbackURLScheme: "org.mailpresence.app") { back, _ in
                done.resume(returning: back?.absoluteString)
            }
            s.presentationContextProvider = self
            // The company account's cookie in Safari may be used (single sign-on).
            s.prefersEphemeralWebBrowserSession = false
            session = s
            if !s.start() { done.resume(returning: nil) }
        }
    }

    nonisolated func presentationAnchor(for session: ASWebAuthenticationSession) -> ASPresentationAnchor {
        MainActor.assumeIsolated {
            UIApplication.shared.connectedScenes.compactMap { ($0 as? UIWindowScene)?.keyWindow }.first ?? ASPresentationAnchor()
        }
    }
}
