// Times of day on the My status and Sharing screens: a time the worker
// picks (「15:00」) as the next such moment in the phone's zone, a moment as
// a time of day, the return time a picker starts at, and the plans the
// presets add (「15:00 帰社」「直帰」「本日休み」).
package org.mailpresence.ui

import java.util.TimeZone

/** A time of day, as a picker gives it. */
data class ClockTime(val hour: Int, val minute: Int) {
    init {
        require(hour in 0..23 && minute in 0..59) { "not a time of day: $hour:$minute" }
    }

    override fun toString(): String = "%02d:%02d".format(hour, minute)

    companion object {
        /** `15:00` or `9:30`; null when it is not a time of day. */
        fun parse(text: String): ClockTime? {
            val m = Regex("^\\s*(\\d{1,2}):(\\d{2})\\s*$").find(text) ?: return null
            val (h, min) = m.destructured.let { (h, min) -> h.toInt() to min.toInt() }
            return if (h in 0..23 && min in 0..59) ClockTime(h, min) else null
        }
    }
}

object StatusTime {
    private const val DAY = 86_400L

    private fun offset(unix: Long, zone: TimeZone): Long = zone.getOffset(unix * 1000) / 1000L

    /** The next moment after [nowUnix] that reads [at] in [zone]: today, or
     *  tomorrow once today's has passed. */
    fun nextUnix(at: ClockTime, nowUnix: Long, zone: TimeZone): Long {
        val local = nowUnix + offset(nowUnix, zone)
        var target = Math.floorDiv(local, DAY) * DAY + at.hour * 3600L + at.minute * 60L
        if (target <= local) target += DAY
        return target - offset(nowUnix, zone)
    }

    /** The time of day [unix] reads in [zone]. */
    fun clockOf(unix: Long, zone: TimeZone): ClockTime {
        val secondOfDay = Math.floorMod(unix + offset(unix, zone), DAY)
        return ClockTime((secondOfDay / 3600).toInt(), ((secondOfDay % 3600) / 60).toInt())
    }

    /** Where the return-time picker starts: the full hour two hours on
     *  (13:10 → 15:00), at most 23:00. */
    fun defaultReturn(nowUnix: Long, zone: TimeZone): ClockTime {
        val now = clockOf(nowUnix, zone)
        return ClockTime(minOf(23, now.hour + 2), 0)
    }

    /** 「15:00まで」, "until 15:00": how a status or sharing that ends reads. */
    fun until(unix: Long, zone: TimeZone, lang: Lang): String {
        val at = clockOf(unix, zone)
        return if (lang == Lang.JA) "${at}まで" else "until $at"
    }
}

/** A plan the worker adds with one tap: what the button says, what is published. */
data class PlanPreset(val label: String, val plan: String)

object Plans {
    /** The plan a return time makes: 「15:00 帰社予定」, "15:00 back at the office". */
    fun returnAt(at: ClockTime, lang: Lang): String =
        if (lang == Lang.JA) "$at 帰社予定" else "$at back at the office"

    /** The presets, the return one at [returnAt] (the picker's time). */
    fun presets(returnAt: ClockTime, lang: Lang): List<PlanPreset> = when (lang) {
        Lang.JA -> listOf(
            PlanPreset("$returnAt 帰社", returnAt(returnAt, lang)),
            PlanPreset("直帰", "直帰"),
            PlanPreset("本日休み", "本日休み"),
        )
        Lang.EN -> listOf(
            PlanPreset("Back $returnAt", returnAt(returnAt, lang)),
            PlanPreset("Straight home", "Going straight home"),
            PlanPreset("Off today", "Off today"),
        )
    }
}
