// The app: one AppModel, made at launch (also when iOS launches the app in
// the background for a refresh or a location event, when no scene is shown),
// and a background refresh that owns it and reads new Notify mails with the
// core's sync().
import BackgroundTasks
import MailPresence
import MailPresenceUI
import SwiftUI

@main
struct MailPresenceApp: App {
    @StateObject private var model: AppModel
    @Environment(\.scenePhase) private var phase

    init() {
        #if DEBUG
        setLogSink(sink: CoreLog(), level: .debug)
        #else
        setLogSink(sink: CoreLog(), level: .warn)
        #endif
        // Made here rather than lazily by @StateObject: a launch in the
        // background shows no scene, and the refresh and CoreLocation's
        // relaunch events need the model (its client, its location manager).
        let model = AppModel()
        _model = StateObject(wrappedValue: model)
        // Registered before launch ends, as BackgroundTasks requires; on the
        // main queue, where the model lives.
        let refresh = BackgroundRefresh(model: model)
        BGTaskScheduler.shared.register(forTaskWithIdentifier: BackgroundRefresh.identifier, using: .main) { task in
            refresh.handle(task)
        }
    }

    var body: some Scene {
        WindowGroup { ContentView().environmentObject(model) }
            .onChange(of: phase) { newPhase in
                if newPhase == .background { BackgroundRefresh.schedule() }
                if newPhase == .active { model.client?.start() }
            }
    }
}

/// One BGAppRefreshTask: it holds the model itself (no weak global that may
/// be gone), schedules the next, and reports success only when the core read
/// the mailbox (BackgroundSync); the task's expiry cancels the read.
final class BackgroundRefresh: Sendable {
    static let identifier = "org.mailpresence.sync"
    private let model: AppModel

    init(model: AppModel) { self.model = model }

    func handle(_ task: BGTask) {
        Self.schedule()
        let model = self.model
        let work = Task { await model.syncInBackground() }
        // BGTask is not marked Sendable; BackgroundTasks lets its expiry
        // handler be set and its completion be reported from any thread.
        nonisolated(unsafe) let task = task
        task.expirationHandler = { work.cancel() }
        Task { task.setTaskCompleted(success: await work.value) }
    }

    static func schedule() {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }
}
