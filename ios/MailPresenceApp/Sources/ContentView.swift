// The five screens. They draw what AppModel and MailPresenceUI give them
// (MyStatusModel, SharingModel, AccountForm's field descriptions) and
// forward taps; every decision and text is in the plain layer.
import MailPresence
import MailPresenceUI
import SwiftUI
import UIKit
import UniformTypeIdentifiers

struct ContentView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        TabView {
            MyStatusView().tabItem { Label("tab.status", systemImage: "person.crop.circle") }
            ColleaguesView().tabItem { Label("tab.colleagues", systemImage: "person.3") }
            SharingView().tabItem { Label("tab.sharing", systemImage: "location") }
            AccountView().tabItem { Label("tab.account", systemImage: "gear") }
            AboutView().tabItem { Label("tab.about", systemImage: "info.circle") }
        }
    }
}

/// A picker's time as the plain layer's ClockTime.
private func clock(_ date: Date) -> ClockTime {
    let parts = Calendar.current.dateComponents([.hour, .minute], from: date)
    return ClockTime(hour: parts.hour ?? 0, minute: parts.minute ?? 0) ?? ClockTime(hour: 0, minute: 0)!
}

/// Today at `time`, for a picker to start from.
private func date(_ time: ClockTime) -> Date {
    Calendar.current.date(bySettingHour: time.hour, minute: time.minute, second: 0, of: Date()) ?? Date()
}

struct MyStatusView: View {
    @EnvironmentObject var model: AppModel
    @State private var note = ""
    @State private var plan = ""
    @State private var timed = false
    @State private var until = Date().addingTimeInterval(3600)
    @State private var back = Date()
    @State private var granularity = Granularity.city

    var body: some View {
        if let status = model.status {
            let ui = status.ui
            Form {
                Text(ui.activity).font(.title2)
                if let ends = ui.endsAt { Text(ends) }
                ScrollView(.horizontal) {
                    HStack {
                        ForEach(ui.choices, id: \.kind) { choice in
                            Button(choice.label) {
                                Task { await status.setActivity(choice.kind, note: note, until: timed ? clock(until) : nil) }
                            }
                            .buttonStyle(.bordered)
                            .tint(choice.selected ? .accentColor : .secondary)
                            .lineLimit(1)
                        }
                    }
                }
                TextField("status.text", text: $note)
                Toggle("status.until", isOn: $timed)
                if timed { DatePicker("status.untilTime", selection: $until, displayedComponents: .hourAndMinute) }
                DatePicker("status.returnTime", selection: $back, displayedComponents: .hourAndMinute)
                ScrollView(.horizontal) {
                    HStack {
                        ForEach(status.presets(returnAt: clock(back)), id: \.label) { preset in
                            Button(preset.label) { Task { await status.addPreset(preset) } }.buttonStyle(.bordered)
                        }
                    }
                }
                TextField("status.plan", text: $plan)
                Button("status.addPlan") { Task { await status.addPlan(plan); plan = "" } }
                ForEach(ui.plans, id: \.self) { Text($0) }
                if !ui.plans.isEmpty { Button("status.clearPlans") { Task { await status.clearPlans() } } }
                Picker("status.granularity", selection: $granularity) {
                    Text("granularity.city").tag(Granularity.city)
                    Text("granularity.district").tag(Granularity.district)
                    Text("granularity.street").tag(Granularity.street)
                }.onChange(of: granularity) { g in
                    if g != model.session.form().granularity { model.changeGranularity(g) }
                }
                Text(ui.location)
                Text(ui.lastPublish)
                if let pending = ui.pending { Text(pending).foregroundColor(ui.outboxFull ? .red : .primary) }
                if let error = ui.error { Text(error).foregroundColor(.red) }
                if let m = model.message { Text(m).foregroundColor(.red) }
            }
            .onAppear {
                granularity = model.session.form().granularity
                note = ui.note
                back = date(status.defaultReturn())
                status.refresh()
            }
        } else {
            AccountView()
        }
    }
}

struct SharingView: View {
    @EnvironmentObject var model: AppModel
    @State private var hours = ""
    @State private var ends = false
    @State private var until = date(ClockTime(hour: 18, minute: 0)!)

    var body: some View {
        if let sharing = model.sharing {
            let ui = sharing.ui
            Form {
                // The switch shows what the core does, not a copy of it.
                Toggle("status.share", isOn: Binding(get: { ui.on }, set: { model.share($0) }))
                Text(ui.indicator).foregroundColor(ui.sharingNow ? .accentColor : .secondary)
                switch ui.prompt {
                case let .rationale(text):
                    Text(text)
                    Button("sharing.continue") { model.carryOut(sharing.rationaleAccepted()) }
                    Button("sharing.notNow") { sharing.rationaleDeclined() }
                case let .denied(text):
                    Text(text).foregroundColor(.red)
                case let .deniedForGood(text, button):
                    Text(text)
                    Button(button) { model.carryOut(sharing.openSettings()) }
                case .none:
                    EmptyView()
                }
                TextField("sharing.hours", text: $hours, prompt: Text(verbatim: "08:00-19:00"))
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                    .keyboardType(.numbersAndPunctuation)
                Button("sharing.set") { Task { await sharing.setWorkingHours(hours) } }
                Toggle("sharing.until", isOn: $ends)
                    .onChange(of: ends) { on in if !on { Task { await sharing.setUntil(nil) } } }
                if ends {
                    DatePicker("sharing.untilTime", selection: $until, displayedComponents: .hourAndMinute)
                    Button("sharing.set") { Task { await sharing.setUntil(clock(until)) } }
                }
                if let text = ui.until { Text(text) }
                if let error = ui.error { Text(error).foregroundColor(.red) }
            }
            .onAppear {
                hours = ui.workingHours
                ends = ui.until != nil
                sharing.refresh()
            }
            // The indicator changes by itself at a shift's edge or the end: look again then.
            .task(id: ui.nextChangeUnix) {
                guard let at = ui.nextChangeUnix else { return }
                let wait = max(0, at - Int64(Date().timeIntervalSince1970)) + 1
                try? await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000_000)
                sharing.refresh()
            }
        } else {
            AccountView()
        }
    }
}

struct ColleaguesView: View {
    // Follows live in the core (ColleaguesStore.follow), not in this view:
    // leaving it ends nothing.
    @EnvironmentObject var model: AppModel
    @Environment(\.openURL) private var openURL
    @State private var query = ""
    @State private var problem: String?
    @State private var chosen: String?
    var body: some View {
        List {
            if let line = model.colleagues.connection { Text(line).foregroundColor(.red) }
            if let problem { Text(problem).foregroundColor(.red) }
            TextField("colleagues.search", text: $query)
                .textInputAutocapitalization(.never)
                .autocorrectionDisabled()
            if !query.isEmpty {
                if let d = model.colleagues.directory, d.total > d.listed {
                    Text(String(format: String(localized: "colleagues.cut"), Int(d.listed), Int(d.total)))
                }
                ForEach((try? model.colleagues.search(query)) ?? [], id: \.entry.account) { found in
                    HStack {
                        VStack(alignment: .leading) {
                            Text(found.entry.name).font(.headline)
                            Text([found.entry.reading, found.entry.department, found.entry.extension].compactMap { $0 }.joined(separator: " · "))
                        }
                        Spacer()
                        if !found.following {
                            Button("colleagues.follow") { Task { problem = await model.colleagues.follow([found.entry.account]) } }
                        }
                    }
                }
            } else {
                ForEach(model.colleagues.rows(), id: \.account) { row in
                    VStack(alignment: .leading) {
                        Text(row.name).font(.headline)
                        Text(row.text)
                        if chosen == row.account {
                            HStack {
                                ForEach(model.colleagues.contactActions(row.account), id: \.uri) { action in
                                    Button(action.label) { if let url = URL(string: action.uri) { openURL(url) } }
                                }
                                if row.followed {
                                    Button("colleagues.unfollow") { Task { problem = await model.colleagues.unfollow(row.account); chosen = nil } }
                                }
                            }.buttonStyle(.bordered)
                        }
                    }
                    .opacity(row.stale ? 0.5 : 1)
                    .contentShape(Rectangle())
                    .onTapGesture { chosen = chosen == row.account ? nil : row.account }
                }
            }
        }.refreshable { await model.run { _ = try await $0.sync() }; try? await model.colleagues.refreshDirectory() }
    }
}

/// One text field as AccountForm describes it: hosts, addresses and keys
/// typed exactly (no autocorrect, no capitals), the keyboard for what it holds.
struct AccountField: View {
    let spec: AccountForm.FieldSpec
    @Binding var form: AccountForm

    var body: some View {
        let text = Binding(get: { form.value(spec.field) }, set: { form = form.with(spec.field, $0) })
        Group {
            if spec.input == .password {
                SecureField(spec.label, text: text)
            } else {
                TextField(spec.label, text: text)
            }
        }
        .textInputAutocapitalization(spec.autoCapitalize ? .sentences : .never)
        .autocorrectionDisabled(!spec.autoCorrect)
        .keyboardType(keyboard)
    }

    private var keyboard: UIKeyboardType {
        switch spec.input {
        case .mailAddress: return .emailAddress
        case .host, .key, .file: return .URL
        case .port: return .numberPad
        case .name, .password: return .asciiCapable
        }
    }
}

struct AccountView: View {
    @EnvironmentObject var model: AppModel
    @State private var form = AccountForm()
    @State private var problems: [AccountForm.Problem] = []
    @State private var tested: String?
    @State private var pickingCa = false

    private func securityPicker(_ title: LocalizedStringKey, _ mode: TlsMode, _ choose: @escaping (TlsMode) -> Void) -> some View {
        Picker(title, selection: Binding(get: { mode }, set: choose)) {
            ForEach(AccountForm.securityChoices(model.lang), id: \.1) { Text($0.1).tag($0.0) }
        }
    }

    var body: some View {
        Form {
            NavigationLink("account.scanCode") { EnrolView() }
            // The settings from the address alone; the fields below stay as the fallback.
            Button("account.findSettings") {
                Task {
                    do {
                        if let found = try await findMailSettings(address: form.mail, dnsServers: []) {
                            form = form.withSettings(found) { kind, tenant in
                                model.provider(kind).map { p in var p = p; if let t = tenant { p.tenant = t }; return p }
                            }
                        } else {
                            model.message = String(localized: "account.settingsNotFound")
                        }
                    } catch let e as PresenceError {
                        model.message = ErrorText.of(e, model.lang)
                    }
                }
            }
            ForEach([ProviderKind.microsoft, .google], id: \.self) { kind in
                if let provider = model.provider(kind) {
                    Button(kind == .microsoft ? "account.signInMicrosoft" : "account.signInGoogle") {
                        Task { await model.signIn(with: provider); form = model.session.form() }
                    }
                }
            }
            if let state = model.signIn?.state {
                switch state {
                case .signedIn:
                    Text("account.signedIn")
                    Button("account.signOut") { Task { await model.signIn?.signOut(); model.objectWillChange.send() } }
                case let .signInAgain(text), let .failed(text): Text(text).foregroundColor(.red)
                default: EmptyView()
                }
            }
            ForEach(form.fields(model.lang), id: \.field) { spec in
                if spec.field == .caFile {
                    HStack {
                        Text("\(spec.label): \(form.caFile.isEmpty ? "—" : (form.caFile as NSString).lastPathComponent)")
                        Button("account.chooseFile") { pickingCa = true }
                        if !form.caFile.isEmpty { Button("account.remove") { form = form.with(.caFile, "") } }
                    }
                } else {
                    AccountField(spec: spec, form: $form)
                }
                if spec.field == .imapPort { securityPicker("account.imapSecurity", form.imapSecurity) { form = form.withImapSecurity($0) } }
                if spec.field == .smtpPort { securityPicker("account.smtpSecurity", form.smtpSecurity) { form = form.withSmtpSecurity($0) } }
                ForEach(problems.filter { $0.field == spec.field || ($0.field == .imapSecurity && spec.field == .imapPort)
                    || ($0.field == .smtpSecurity && spec.field == .smtpPort) }, id: \.text) {
                    Text($0.text).foregroundColor(.red)
                }
            }
            Text(form.proof(model.lang))
            Button("account.save") { problems = model.save(form) }
            // The form as it is on the screen, saved or not.
            Button("account.test") {
                Task {
                    switch await model.session.test(form, tokens: KeychainTokens()) {
                    case let .problems(found): problems = found; tested = nil
                    case let .failed(text), let .passed(text): problems = []; tested = text
                    }
                }
            }
            if let tested { Text(tested) }
            if let m = model.message { Text(m) }
        }
        .scrollDismissesKeyboard(.interactively)
        .onAppear { form = model.session.form() }
        .task { await model.signIn?.refresh(); model.objectWillChange.send() }
        // The company CA: copied into the app's own storage, the core reads it there.
        .fileImporter(isPresented: $pickingCa, allowedContentTypes: [.x509Certificate, .data]) { result in
            guard case let .success(url) = result else { return }
            let access = url.startAccessingSecurityScopedResource()
            defer { if access { url.stopAccessingSecurityScopedResource() } }
            let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            let copy = dir.appendingPathComponent("company-ca.pem")
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: copy)
            if (try? FileManager.default.copyItem(at: url, to: copy)) != nil { form = form.with(.caFile, copy.path) }
        }
    }
}

struct AboutView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        List {
            Text("about.text")
            ForEach(model.client?.attributions() ?? [], id: \.self) { Text($0).font(.footnote) }
        }
    }
}
