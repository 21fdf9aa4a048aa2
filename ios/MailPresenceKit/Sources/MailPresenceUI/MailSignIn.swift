// "Sign in with Microsoft" / "Sign in with Google": the sign-in's state for
// the Account screen, over the core's SignIn. The app opens the URL of
// start() in an ASWebAuthenticationSession and hands back the address it was
// redirected to; everything else (state check, PKCE, the code exchange, the
// refresh token going to the Keychain-backed storage) happens in the core.
import Foundation
import MailPresence

public enum SignInState: Equatable, Sendable {
    /// No refresh token is kept: the button is shown.
    case signedOut
    /// The browser session is open on the provider's page.
    case inBrowser(url: String)
    /// The browser came back; the code is being exchanged.
    case finishing
    case signedIn
    /// The provider refused (declined, revoked, expired): sign in again, in words.
    case signInAgain(String)
    /// Not refused, only not done (no network): the token is kept, try later.
    case failed(String)
}

/// Sendable: the app's main actor awaits its steps, which run off the main
/// actor (the core's calls), while the Account screen reads `state`; the
/// state is only read and written under the lock.
public final class MailSignIn: @unchecked Sendable {
    private let lang: Lang
    private let signIn: SignIn
    private let lock = NSLock()
    private var current: SignInState

    public private(set) var state: SignInState {
        get { lock.with { current } }
        set { lock.with { current = newValue } }
    }

    public init(lang: Lang, signIn: SignIn) {
        self.lang = lang
        self.signIn = signIn
        current = signIn.isSignedIn() ? .signedIn : .signedOut
    }

    /// The provider's page to open in the browser session.
    public func start() throws -> String {
        do {
            let url = try signIn.begin()
            state = .inBrowser(url: url)
            return url
        } catch let e as PresenceError {
            state = .failed(ErrorText.of(e, lang))
            throw e
        }
    }

    /// The session was closed without coming back: as before it opened.
    public func cancelled() {
        if case .inBrowser = state { state = settled() }
    }

    /// The address the browser was redirected to (the app's own scheme).
    @discardableResult
    public func redirected(_ url: String) async -> SignInState {
        state = .finishing
        return await outcome(refused: notCompleted()) { try await self.signIn.finish(redirectUrl: url) }
    }

    /// When the app opens or comes back: whether the sign-in still holds.
    @discardableResult
    public func refresh() async -> SignInState {
        guard signIn.isSignedIn() else {
            state = settled()
            return state
        }
        return await outcome { try await self.signIn.refresh() }
    }

    @discardableResult
    public func signOut() async -> SignInState {
        await outcome { try await self.signIn.signOut() }
    }

    private func outcome(refused: String? = nil, _ work: () async throws -> Void) async -> SignInState {
        let next: SignInState
        do {
            try await work()
            next = settled()
        } catch let e as PresenceError {
            switch e {
            case .SignInAgain: next = .signInAgain(refused ?? ErrorText.of(e, lang))
            case .Unreachable: next = .failed(unreachable())
            default: next = .failed(ErrorText.of(e, lang))
            }
        } catch {
            next = .failed(String(describing: error))
        }
        state = next
        return next
    }

    /// A first sign-in that did not end well: nothing had "ended" yet.
    private func notCompleted() -> String {
        lang == .ja ? "サインインが完了しませんでした。もう一度サインインしてください。"
            : "The sign-in was not completed. Please sign in again."
    }

    private func unreachable() -> String {
        lang == .ja ? "サインインのサービスに接続できません。電波の良い場所で再度お試しください。サインインはそのままです。"
            : "The sign-in service cannot be reached. Try again where the network is better; you stay signed in."
    }

    private func settled() -> SignInState { signIn.isSignedIn() ? .signedIn : .signedOut }
}
