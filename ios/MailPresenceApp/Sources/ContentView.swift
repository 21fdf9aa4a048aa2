// The four screens. They draw what AppModel and MailPresenceUI give them.
import MailPresence
import MailPresenceUI
import SwiftUI

struct ContentView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        TabView {
            MyStatusView().tabItem { Label("tab.status", systemImage: "person.crop.circle") }
            ColleaguesView().tabItem { Label("tab.colleagues", systemImage: "person.3") }
            AccountView().tabItem { Label("tab.account", systemImage: "gear") }
            AboutView().tabItem { Label("tab.about", systemImage: "info.circle") }
        }
    }
}

struct MyStatusView: View {
    @EnvironmentObject var model: AppModel
    @State private var text = ""
    @State private var plan = ""
    @State private var granularity = Granularity.city
    private let kinds: [ActivityToken] = [.available, .onSite, .driving, .meeting, .break]

    var body: some View {
        Form {
            if let own = model.own { Text(PresenceFormat.activity(own, model.lang)).font(.title2) }
            ScrollView(.horizontal) {
                HStack {
                    ForEach(kinds, id: \.self) { kind in
                        Button(PresenceFormat.activityLabel(kind, model.lang)) {
                            Task { await model.run { try await $0.setStatus(activity: kind, text: text.isEmpty ? nil : text) } }
                        }.buttonStyle(.bordered)
                    }
                }
            }
            TextField("status.text", text: $text)
            TextField("status.plan", text: $plan)
            Button("status.addPlan") { Task { await model.run { try await $0.addSchedule(entry: plan) }; plan = "" } }
            ForEach(model.own?.schedule ?? [], id: \.self) { Text($0) }
            // The switch shows what the core does, not a copy of it.
            Toggle("status.share", isOn: Binding(get: { model.sharing }, set: { model.share($0) }))
            Picker("status.granularity", selection: $granularity) {
                Text("granularity.city").tag(Granularity.city)
                Text("granularity.district").tag(Granularity.district)
                Text("granularity.street").tag(Granularity.street)
            }.onChange(of: granularity) { g in
                if g != model.session.form().granularity { model.changeGranularity(g) }
            }
            .onAppear { granularity = model.session.form().granularity }
            if let own = model.own { Text(LocationSharing.placeLine(own, sharing: model.sharing, model.lang)) }
            Text(PresenceFormat.age(updatedUnix: model.own?.updatedUnix, nowUnix: Int64(Date().timeIntervalSince1970), model.lang))
            // As Int: the localized key is `status.pending %lld` (a UInt32 would look up %u).
            if let waiting = try? model.client?.outboxDepth(), waiting > 0 { Text("status.pending \(Int(waiting))") }
            if let m = model.message { Text(m).foregroundColor(.red) }
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

struct AccountView: View {
    @EnvironmentObject var model: AppModel
    @State private var form = AccountForm()
    @State private var problems: [AccountForm.Problem] = []
    var body: some View {
        Form {
            NavigationLink("account.scanCode") { EnrolView() }
            TextField("account.name", text: $form.account)
            TextField("account.mail", text: $form.mail)
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
            if form.signIn == nil { SecureField("account.password", text: $form.password) }
            TextField("account.presenceServer", text: $form.presenceServer)
            TextField("account.mailHost", text: $form.mailHost)
            TextField("account.imapPort", text: $form.imapPort)
            TextField("account.smtpPort", text: $form.smtpPort)
            TextField("account.authservId", text: $form.authservId)
            ForEach(problems, id: \.text) { Text($0.text).foregroundColor(.red) }
            Button("account.save") { problems = model.save(form) }
            Button("account.test") { Task { await model.run { _ = try await $0.sync() } } }
            if let m = model.message { Text(m) }
        }.onAppear { form = model.session.form() }
        .task { await model.signIn?.refresh(); model.objectWillChange.send() }
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
