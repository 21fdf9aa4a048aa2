// How presence reads on screen: the activity label, a colleague's row
// ("on site · 千代田区 · 15:00 帰社予定 · 5 min ago") and the age of what we know.
import Foundation
import MailPresence

public enum Lang: String, Sendable {
    case ja, en
    public init(localeIdentifier: String) { self = localeIdentifier.lowercased().hasPrefix("ja") ? .ja : .en }
}

public enum PresenceFormat {
    public static func activityLabel(_ kind: ActivityToken, _ lang: Lang) -> String {
        switch lang {
        case .ja:
            switch kind {
            case .available: return "在席"
            case .busy: return "取込み中"
            case .away: return "離席中"
            case .meeting: return "会議中"
            case .onThePhone: return "電話中"
            case .onSite: return "現場作業中"
            case .driving: return "運転中"
            case .`break`: return "休憩中"
            case .vacation: return "休暇中"
            case .offline: return "オフライン"
            }
        case .en:
            switch kind {
            case .available: return "available"
            case .busy: return "busy"
            case .away: return "away"
            case .meeting: return "in a meeting"
            case .onThePhone: return "on the phone"
            case .onSite: return "on site"
            case .driving: return "driving"
            case .`break`: return "on a break"
            case .vacation: return "on vacation"
            case .offline: return "offline"
            }
        }
    }

    /// The activity with its free text: 現場作業中（設備点検中）, on site (inspection).
    public static func activity(_ p: PresenceView, _ lang: Lang) -> String {
        let label = p.activity.map { activityLabel($0, lang) }
        let text = p.activityText.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        switch (label, text) {
        case let (l?, t?): return lang == .ja ? "\(l)（\(t)）" : "\(l) (\(t))"
        case let (l?, nil): return l
        case let (nil, t?): return t
        case (nil, nil): return activityLabel(.available, lang)
        }
    }

    /// How old a presence is, from its Updated time (seconds since 1970).
    public static func age(updatedUnix: Int64?, nowUnix: Int64, _ lang: Lang) -> String {
        guard let updated = updatedUnix else { return lang == .ja ? "時刻不明" : "time unknown" }
        let s = max(0, nowUnix - updated), m = s / 60, h = m / 60, d = h / 24
        switch lang {
        case .ja: return s < 60 ? "たった今" : m < 60 ? "\(m)分前" : h < 24 ? "\(h)時間前" : "\(d)日前"
        case .en: return s < 60 ? "just now" : m < 60 ? "\(m) min ago" : h < 24 ? "\(h) h ago" : d == 1 ? "yesterday" : "\(d) days ago"
        }
    }

    /// A colleague's row: activity · place · next plan · age.
    public static func row(_ p: PresenceView, nowUnix: Int64, _ lang: Lang) -> String {
        [activity(p, lang), p.location, p.schedule.first, age(updatedUnix: p.updatedUnix, nowUnix: nowUnix, lang)]
            .compactMap { $0 }
            .joined(separator: " · ")
    }

    public static let staleAfterSeconds: Int64 = 2 * 3600

    public static func isStale(_ c: ColleaguePresence, nowUnix: Int64) -> Bool {
        guard let updated = c.presence.updatedUnix else { return true }
        return nowUnix - updated > staleAfterSeconds
    }
}
