// Times of day on the My status and Sharing screens: a time the worker
// picks (「15:00」) as the next such moment in the phone's zone, a moment as
// a time of day, the return time a picker starts at, and the plans the
// presets add (「15:00 帰社」「直帰」「本日休み」).
import Foundation

/// A time of day, as a picker gives it.
public struct ClockTime: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int

    /// Nil when it is not a time of day.
    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// `15:00` or `9:30`; nil when it is not a time of day.
    public init?(parsing text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) }),
              let h = Int(parts[0]), let m = Int(parts[1]) else { return nil }
        self.init(hour: h, minute: m)
    }

    public var description: String { String(format: "%02d:%02d", hour, minute) }
}

public enum StatusTime {
    private static let day: Int64 = 86_400

    private static func offset(_ unix: Int64, _ zone: TimeZone) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(unix))))
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// The next moment after `nowUnix` that reads `at` in `zone`: today, or
    /// tomorrow once today's has passed.
    public static func nextUnix(_ at: ClockTime, nowUnix: Int64, zone: TimeZone) -> Int64 {
        let local = nowUnix + offset(nowUnix, zone)
        var target = floorDiv(local, day) * day + Int64(at.hour) * 3600 + Int64(at.minute) * 60
        if target <= local { target += day }
        return target - offset(nowUnix, zone)
    }

    /// The time of day `unix` reads in `zone`.
    public static func clockOf(_ unix: Int64, zone: TimeZone) -> ClockTime {
        let local = unix + offset(unix, zone)
        let second = local - floorDiv(local, day) * day
        return ClockTime(hour: Int(second / 3600), minute: Int(second % 3600 / 60))!
    }

    /// Where the return-time picker starts: the full hour two hours on
    /// (13:10 → 15:00), at most 23:00.
    public static func defaultReturn(nowUnix: Int64, zone: TimeZone) -> ClockTime {
        ClockTime(hour: min(23, clockOf(nowUnix, zone: zone).hour + 2), minute: 0)!
    }

    /// 「15:00まで」, "until 15:00": how a status or sharing that ends reads.
    public static func until(_ unix: Int64, zone: TimeZone, _ lang: Lang) -> String {
        let at = clockOf(unix, zone: zone)
        return lang == .ja ? "\(at)まで" : "until \(at)"
    }
}

/// A plan the worker adds with one tap: what the button says, what is published.
public struct PlanPreset: Equatable, Sendable {
    public let label: String
    public let plan: String
}

public enum Plans {
    /// The plan a return time makes: 「15:00 帰社予定」, "15:00 back at the office".
    public static func returnAt(_ at: ClockTime, _ lang: Lang) -> String {
        lang == .ja ? "\(at) 帰社予定" : "\(at) back at the office"
    }

    /// The presets, the return one at `returnAt` (the picker's time).
    public static func presets(returnAt: ClockTime, _ lang: Lang) -> [PlanPreset] {
        switch lang {
        case .ja:
            return [PlanPreset(label: "\(returnAt) 帰社", plan: Self.returnAt(returnAt, lang)),
                    PlanPreset(label: "直帰", plan: "直帰"),
                    PlanPreset(label: "本日休み", plan: "本日休み")]
        case .en:
            return [PlanPreset(label: "Back \(returnAt)", plan: Self.returnAt(returnAt, lang)),
                    PlanPreset(label: "Straight home", plan: "Going straight home"),
                    PlanPreset(label: "Off today", plan: "Off today")]
        }
    }
}
