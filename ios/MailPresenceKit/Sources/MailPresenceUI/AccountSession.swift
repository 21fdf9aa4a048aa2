// The account behind the app: the saved form and the one PresenceClient
// opened from it. Save checks the form, opens a new client, and only when
// that worked keeps the form and lets the old client go (stopped, released),
// so a mistake never leaves the app without the account that worked. "Test
// connection" logs in with the form as it is on the screen, saved or not.
// The app supplies how a client is opened (its storage folder, the map pack)
// and where the form is kept (UserDefaults and the Keychain).
import Foundation
import MailPresence

/// Where the account form is kept between runs.
public protocol AccountVault: AnyObject {
    func load() -> AccountForm?
    func save(_ form: AccountForm)
}

public enum SaveResult: Equatable {
    /// The form has mistakes; nothing was opened or kept.
    case problems([AccountForm.Problem])
    /// The core could not be opened, in words; the old client stays.
    case failed(String)
    case saved
}

public enum TestResult: Equatable, Sendable {
    /// The form has mistakes; nothing was tried.
    case problems([AccountForm.Problem])
    /// A server refused or could not be reached, in words with what to do.
    case failed(String)
    case passed(String)
}

public final class AccountSession {
    private let lang: Lang
    private let vault: AccountVault
    private let listener: PresenceListener
    private let open: (AccountConfig) throws -> PresenceClient

    /// The client in use; a new one after every successful save.
    public private(set) var client: PresenceClient?

    public init(lang: Lang, vault: AccountVault, listener: PresenceListener, open: @escaping (AccountConfig) throws -> PresenceClient) {
        self.lang = lang
        self.vault = vault
        self.listener = listener
        self.open = open
    }

    /// The form the Account screen starts from.
    public func form() -> AccountForm { vault.load() ?? AccountForm() }

    /// At app start: opens the saved account, if any. Nil, or why not.
    public func openSaved() -> String? {
        guard let form = vault.load() else { return nil }
        if case let .failed(message) = replace(with: form) { return message }
        return nil
    }

    public func save(_ form: AccountForm) -> SaveResult {
        let problems = form.problems(lang)
        if !problems.isEmpty { return .problems(problems) }
        let result = replace(with: form)
        if result == .saved { vault.save(form) }
        return result
    }

    /// The place detail chosen on the status screen: the saved account again, with it.
    public func changeGranularity(_ granularity: Granularity) -> SaveResult {
        guard var form = vault.load() else {
            return .failed(lang == .ja ? "先にアカウントを設定してください。" : "Set up the account first.")
        }
        form.granularity = granularity
        return save(form)
    }

    /// "Test connection": logs in to the IMAP and SMTP servers of `form` as
    /// the screen holds it (not the saved account), sending nothing. With the
    /// company's sign-in the refresh token comes from `tokens`.
    public func test(_ form: AccountForm, tokens: TokenStorage? = nil) async -> TestResult {
        let problems = form.problems(lang)
        if !problems.isEmpty { return .problems(problems) }
        do {
            try await testConnection(config: form.config(lang), tokens: tokens)
            return .passed(lang == .ja ? "メールサーバーに接続できました（受信・送信とも）。" : "Both mail servers took the login (receiving and sending).")
        } catch let e as PresenceError {
            return .failed(ErrorText.of(e, lang))
        } catch {
            return .failed("\(error)")
        }
    }

    /// Stops and lets go of the client (the app is going away).
    public func close() {
        client?.stop()
        client = nil
    }

    private func replace(with form: AccountForm) -> SaveResult {
        let fresh: PresenceClient
        do {
            fresh = try open(form.config(lang))
        } catch let e as PresenceError {
            return .failed(ErrorText.of(e, lang))
        } catch {
            return .failed("\(error)")
        }
        // The old client stops before the new one starts: never two senders.
        // Dropping the last reference releases it in the core.
        client?.stop()
        fresh.setListener(listener: listener)
        fresh.start()
        client = fresh
        return .saved
    }
}
