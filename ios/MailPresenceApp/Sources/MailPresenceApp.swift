// The app: one AppModel; background refresh wakes it briefly to read new
// Notify mails with the core's sync().
import BackgroundTasks
import MailPresence
import SwiftUI

@main
struct MailPresenceApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var phase

    init() {
        #if DEBUG
        setLogSink(sink: CoreLog(), level: .debug)
        #else
        setLogSink(sink: CoreLog(), level: .warn)
        #endif
        // On the main queue: the handler touches the main-actor AppModel, and
        // with `using: nil` Swift 6 traps on the background queue it runs on.
        BGTaskScheduler.shared.register(forTaskWithIdentifier: "org.mailpresence.sync", using: .main) { task in
            Self.scheduleRefresh()
            let work = Task { _ = try? await AppModel.shared?.client?.sync() }
            task.expirationHandler = { work.cancel() }
            Task { _ = await work.result; task.setTaskCompleted(success: true) }
        }
    }

    var body: some Scene {
        WindowGroup { ContentView().environmentObject(model) }
            .onChange(of: phase) { newPhase in
                if newPhase == .background { Self.scheduleRefresh() }
                if newPhase == .active { model.client?.start() }
            }
    }

    static func scheduleRefresh() {
        let request = BGAppRefreshTaskRequest(identifier: "org.mailpresence.sync")
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }
}
