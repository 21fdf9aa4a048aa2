// The package used from the main actor, as the app's AppModel uses it: the
// sharing screen's model, a sign-in and a background refresh awaited there, with
// their results crossing back. In the Swift 6 language mode this file
// compiles only while those types may cross (Sendable), so the app, built in
// Swift 6 mode with Xcode, keeps compiling; and it runs against the real core.
import Foundation
import MailPresence
@testable import MailPresenceUI
import XCTest

/// AppModel in miniature: main-actor state over the package's steps.
@MainActor
final class MainActorModel {
    let lang: Lang
    let client: PresenceClient
    private(set) var signIn: MailSignIn?
    private(set) var sharing: SharingModel?

    init(lang: Lang, client: PresenceClient) {
        self.lang = lang
        self.client = client
    }

    func shareOn(access: LocationAccess) async throws -> SharingAction {
        let model = try SharingModel(client: client, lang: lang)
        sharing = model
        return await model.switchOn(access)
    }

    func accessChanged(_ access: LocationAccess) async -> SharingAction {
        await sharing?.answered(access) ?? .unchanged
    }

    func checkSignIn(_ provider: ProviderConfig, _ storage: TokenStorage) async throws -> SignInState {
        let fresh = MailSignIn(lang: lang, signIn: try SignIn(provider: provider, redirectUri: "org.mailpresence.app:/oauth2redirect", storage: storage))
        signIn = fresh
        return await fresh.refresh()
    }

    func backgroundRefresh() async -> Bool {
        await BackgroundSync.run(client)
    }
}

final class MainActorUseTests: XCTestCase {
    func testTheSharingSwitchAwaitedOnTheMainActor() async throws {
        let model = await MainActorModel(lang: .ja, client: try offlineClient())
        let on = try await model.shareOn(access: .granted)
        XCTAssertEqual(on, .startUpdates)
        XCTAssertTrue(try model.client.isSharingLocation())
        let denied = await model.accessChanged(.deniedForGood)
        XCTAssertEqual(denied, .stopUpdates)
        guard case .deniedForGood = await model.sharing?.ui.prompt else {
            return XCTFail("a denial for good leads to Settings")
        }
    }

    func testASignInAndABackgroundRefreshAwaitedOnTheMainActor() async throws {
        let model = await MainActorModel(lang: .en, client: try offlineClient())
        let gone = ProviderConfig(provider: .custom, clientId: "mailpresence-phone", tenant: nil, scopes: nil,
                                  authorizeUrl: "http://127.0.0.1:1/authorize", tokenUrl: "http://127.0.0.1:1/token",
                                  deviceAuthorizationUrl: nil, revocationUrl: nil)
        let state = try await model.checkSignIn(gone, Keystore("kept"))
        XCTAssertEqual(state, .failed("The sign-in service cannot be reached. Try again where the network is better; you stay signed in."))
        let shown = await model.signIn?.state
        XCTAssertEqual(shown, state)
        let refreshed = await model.backgroundRefresh()
        XCTAssertFalse(refreshed, "the mail server is not there")
    }
}
