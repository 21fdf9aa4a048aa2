// The package used from the main actor, as the app's AppModel uses it: the
// sharing switch, a sign-in and a background refresh awaited there, with
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
    private(set) var message: String?

    init(lang: Lang, client: PresenceClient) {
        self.lang = lang
        self.client = client
    }

    func share(_ on: Bool, access: LocationAccess) async throws -> SharingAction {
        let step = try await LocationSharing.switched(on, access: access, client: client, lang)
        message = step.message
        return step.action
    }

    func accessChanged(_ access: LocationAccess) async throws -> SharingAction {
        let step = try await LocationSharing.accessChanged(access, client: client, lang)
        message = step.message
        return step.action
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
        let on = try await model.share(true, access: .whenInUse)
        XCTAssertEqual(on, .startUpdates)
        let denied = try await model.accessChanged(.denied)
        XCTAssertEqual(denied, .stopUpdates)
        let said = await model.message
        XCTAssertEqual(said, "位置情報の利用が許可されていないため、位置情報の共有をオフにしました。設定アプリで許可できます。")
        XCTAssertFalse(LocationSharing.isOn(model.client))
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
