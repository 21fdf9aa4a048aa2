// One background refresh (BGAppRefreshTask): the core reads new Notify mails.
// It reports success only when the read ran to the end, so iOS learns the
// truth: no account opened, a failure or the task's expiry is a failure,
// never a silent "done".
import MailPresence

public enum BackgroundSync {
    public static func run(_ client: PresenceClient?) async -> Bool {
        guard let client else { return false }
        do {
            _ = try await client.sync()
        } catch {
            return false
        }
        return !Task.isCancelled
    }
}
