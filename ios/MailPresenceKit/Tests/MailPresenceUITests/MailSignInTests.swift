// The sign-in's states (started, redirected, refreshed, revoked) against the
// real core and the tests' OAuth endpoint (scripts/oauth-endpoint.py, started
// by scripts/test-swift.sh, its address in MAILPRESENCE_OAUTH_URL): the
// browser is played by an HTTP request that does not follow the redirect.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MailPresence
@testable import MailPresenceUI
import XCTest

final class Keystore: TokenStorage, @unchecked Sendable {
    private let lock = NSLock()
    private var token: String?
    init(_ token: String? = nil) { self.token = token }
    var current: String? { lock.lock(); defer { lock.unlock() }; return token }
    func load() -> String? { current }
    func save(token: String) { lock.lock(); self.token = token; lock.unlock() }
    func clear() { lock.lock(); token = nil; lock.unlock() }
}

/// Does not follow the provider's 302: the test reads where it points.
final class NoRedirects: NSObject, URLSessionTaskDelegate {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}

final class MailSignInTests: XCTestCase {
    let base = ProcessInfo.processInfo.environment["MAILPRESENCE_OAUTH_URL"] ?? "http://127.0.0.1:1"
    let redirect = "org.mailpresence.app:/oauth2redirect"
    var provider: ProviderConfig {
        ProviderConfig(provider: .custom, clientId: "mailpresence-phone", tenant: nil, scopes: nil,
                       authorizeUrl: "\(base)/authorize", tokenUrl: "\(base)/token",
                       deviceAuthorizationUrl: "\(base)/device", revocationUrl: "\(base)/revoke")
    }

    func signIn(_ lang: Lang, _ keystore: Keystore) throws -> MailSignIn {
        MailSignIn(lang: lang, signIn: try SignIn(provider: provider, redirectUri: redirect, storage: keystore))
    }

    /// What the browser does on the provider's page: signs in and is sent back.
    func browser(_ url: String, deny: Bool = false) async throws -> String {
        let full = URL(string: url + "&user=tanaka%40example.test" + (deny ? "&deny=1" : ""))!
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        let (_, response) = try await session.data(from: full)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        XCTAssertEqual(http.statusCode, 302)
        return try XCTUnwrap(http.value(forHTTPHeaderField: "Location"))
    }

    func revoke(_ token: String) async throws {
        var request = URLRequest(url: URL(string: "\(base)/revoke")!)
        request.httpMethod = "POST"
        request.httpBody = "token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)".data(using: .utf8)
        let (_, response) = try await URLSession(configuration: .ephemeral).data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
    }

    func testStartedRedirectedRefreshedRevoked() async throws {
        let keystore = Keystore()
        let s = try signIn(.ja, keystore)
        XCTAssertEqual(s.state, .signedOut)

        let url = try s.start()
        XCTAssertTrue(url.hasPrefix("\(base)/authorize?"), url)
        XCTAssertTrue(url.contains("code_challenge_method=S256"), url)
        XCTAssertEqual(s.state, .inBrowser(url: url))

        let back = try await browser(url)
        XCTAssertTrue(back.hasPrefix("\(redirect)?code="), back)
        let signedIn = await s.redirected(back)
        XCTAssertEqual(signedIn, .signedIn)
        let first = try XCTUnwrap(keystore.current, "no refresh token kept after the redirect")

        let refreshed = await s.refresh()
        XCTAssertEqual(refreshed, .signedIn)
        let rotated = try XCTUnwrap(keystore.current)
        XCTAssertNotEqual(first, rotated, "the endpoint rotates refresh tokens")

        try await revoke(rotated)
        let after = await s.refresh()
        XCTAssertEqual(after, .signInAgain("会社のアカウントへのサインインが切れました。もう一度サインインしてください。送信は保留されています。"))
        XCTAssertNil(keystore.current, "a refused token is not kept")
        XCTAssertEqual(s.state, after)
    }

    func testADeclinedConsentOrAForeignRedirectKeepsNoToken() async throws {
        let keystore = Keystore()
        let s = try signIn(.en, keystore)
        let declined = try await browser(try s.start(), deny: true)
        XCTAssertTrue(declined.contains("error=access_denied"), declined)
        let refused = await s.redirected(declined)
        XCTAssertEqual(refused, .signInAgain("The sign-in was not completed. Please sign in again."))
        XCTAssertNil(keystore.current)

        // A redirect made for another sign-in (its state) is refused, even with a good code.
        let other = try signIn(.en, Keystore())
        let stolen = try await browser(try other.start())
        _ = try s.start()
        let foreign = await s.redirected(stolen)
        guard case .signInAgain = foreign else { return XCTFail("\(foreign)") }
        XCTAssertNil(keystore.current)
    }

    func testClosingTheBrowserGoesBackAndSigningOutForgetsTheToken() async throws {
        let keystore = Keystore()
        let s = try signIn(.ja, keystore)
        _ = try s.start()
        s.cancelled()
        XCTAssertEqual(s.state, .signedOut)
        let back = try await browser(try s.start())
        let signedIn = await s.redirected(back)
        XCTAssertEqual(signedIn, .signedIn)
        XCTAssertEqual(try signIn(.ja, keystore).state, .signedIn, "a new screen over the same storage")
        let out = await s.signOut()
        XCTAssertEqual(out, .signedOut)
        XCTAssertNil(keystore.current)
    }

    func testAnUnreachableProviderKeepsTheTokenAndSaysSo() async throws {
        let keystore = Keystore("kept")
        let gone = ProviderConfig(provider: .custom, clientId: "mailpresence-phone", tenant: nil, scopes: nil,
                                  authorizeUrl: "http://127.0.0.1:1/authorize", tokenUrl: "http://127.0.0.1:1/token",
                                  deviceAuthorizationUrl: nil, revocationUrl: nil)
        let s = MailSignIn(lang: .en, signIn: try SignIn(provider: gone, redirectUri: redirect, storage: keystore))
        let after = await s.refresh()
        XCTAssertEqual(after, .failed("The sign-in service cannot be reached. Try again where the network is better; you stay signed in."))
        XCTAssertEqual(keystore.current, "kept")
    }
}
