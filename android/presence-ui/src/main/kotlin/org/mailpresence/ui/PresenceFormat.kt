// How presence reads on screen: the activity label, a colleague's row
// ("on site · 千代田区 · 15:00 帰社予定 · 5 min ago") and the age of what we know.
package org.mailpresence.ui

import org.mailpresence.ActivityKind
import org.mailpresence.ColleaguePresence
import org.mailpresence.Presence

object PresenceFormat {
    fun activityLabel(kind: ActivityKind, lang: Lang): String = when (lang) {
        Lang.JA -> when (kind) {
            ActivityKind.AVAILABLE -> "在席"
            ActivityKind.BUSY -> "取込み中"
            ActivityKind.AWAY -> "離席中"
            ActivityKind.MEETING -> "会議中"
            ActivityKind.ON_THE_PHONE -> "電話中"
            ActivityKind.ON_SITE -> "現場作業中"
            ActivityKind.DRIVING -> "運転中"
            ActivityKind.BREAK -> "休憩中"
            ActivityKind.VACATION -> "休暇中"
            ActivityKind.OFFLINE -> "オフライン"
        }
        Lang.EN -> when (kind) {
            ActivityKind.AVAILABLE -> "available"
            ActivityKind.BUSY -> "busy"
            ActivityKind.AWAY -> "away"
            ActivityKind.MEETING -> "in a meeting"
            ActivityKind.ON_THE_PHONE -> "on the phone"
            ActivityKind.ON_SITE -> "on site"
            ActivityKind.DRIVING -> "driving"
            ActivityKind.BREAK -> "on a break"
            ActivityKind.VACATION -> "on vacation"
            ActivityKind.OFFLINE -> "offline"
        }
    }

    /** The activity with its free text: 現場作業中（設備点検中）, on site (inspection). */
    fun activity(p: Presence, lang: Lang): String {
        val label = p.activity?.let { activityLabel(it, lang) }
        val text = p.activityText?.takeIf { it.isNotBlank() }
        return when {
            label != null && text != null -> if (lang == Lang.JA) "$label（$text）" else "$label ($text)"
            label != null -> label
            text != null -> text
            else -> activityLabel(ActivityKind.AVAILABLE, lang)
        }
    }

    /** How old a presence is, from its Updated time. */
    fun age(updatedUnix: Long?, nowUnix: Long, lang: Lang): String {
        if (updatedUnix == null) return if (lang == Lang.JA) "時刻不明" else "time unknown"
        val s = (nowUnix - updatedUnix).coerceAtLeast(0)
        val m = s / 60
        val h = m / 60
        val d = h / 24
        return when (lang) {
            Lang.JA -> when {
                s < 60 -> "たった今"
                m < 60 -> "${m}分前"
                h < 24 -> "${h}時間前"
                else -> "${d}日前"
            }
            Lang.EN -> when {
                s < 60 -> "just now"
                m < 60 -> "$m min ago"
                h < 24 -> "$h h ago"
                d == 1L -> "yesterday"
                else -> "$d days ago"
            }
        }
    }

    /** A colleague's row in the list: activity · place · next plan · age. */
    fun row(p: Presence, nowUnix: Long, lang: Lang): String =
        listOfNotNull(activity(p, lang), p.location, p.schedule.firstOrNull(), age(p.updatedUnix, nowUnix, lang))
            .joinToString(" · ")

    /** Older than this, the row is shown dimmed: the colleague has not updated for a while. */
    const val STALE_AFTER_SECONDS = 2 * 3600L

    fun isStale(c: ColleaguePresence, nowUnix: Long): Boolean {
        val updated = c.presence.updatedUnix ?: return true
        return nowUnix - updated > STALE_AFTER_SECONDS
    }
}
