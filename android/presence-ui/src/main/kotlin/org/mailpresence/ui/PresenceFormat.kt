// How presence reads on screen: the activity label, a colleague's row
// ("on site · 千代田区 · 15:00 帰社予定 · 5 min ago") and the age of what we know.
package org.mailpresence.ui

import org.mailpresence.protocol.ActivityToken
import org.mailpresence.ColleaguePresence
import org.mailpresence.PresenceView

object PresenceFormat {
    fun activityLabel(kind: ActivityToken, lang: Lang): String = when (lang) {
        Lang.JA -> when (kind) {
            ActivityToken.AVAILABLE -> "在席"
            ActivityToken.BUSY -> "取込み中"
            ActivityToken.AWAY -> "離席中"
            ActivityToken.MEETING -> "会議中"
            ActivityToken.ON_THE_PHONE -> "電話中"
            ActivityToken.ON_SITE -> "現場作業中"
            ActivityToken.DRIVING -> "運転中"
            ActivityToken.BREAK -> "休憩中"
            ActivityToken.VACATION -> "休暇中"
            ActivityToken.OFFLINE -> "オフライン"
        }
        Lang.EN -> when (kind) {
            ActivityToken.AVAILABLE -> "available"
            ActivityToken.BUSY -> "busy"
            ActivityToken.AWAY -> "away"
            ActivityToken.MEETING -> "in a meeting"
            ActivityToken.ON_THE_PHONE -> "on the phone"
            ActivityToken.ON_SITE -> "on site"
            ActivityToken.DRIVING -> "driving"
            ActivityToken.BREAK -> "on a break"
            ActivityToken.VACATION -> "on vacation"
            ActivityToken.OFFLINE -> "offline"
        }
    }

    /** The activity with its free text: 現場作業中（設備点検中）, on site (inspection). */
    fun activity(p: PresenceView, lang: Lang): String {
        val label = p.activity?.let { activityLabel(it, lang) }
        val text = p.activityText?.takeIf { it.isNotBlank() }
        return when {
            label != null && text != null -> if (lang == Lang.JA) "$label（$text）" else "$label ($text)"
            label != null -> label
            text != null -> text
            else -> activityLabel(ActivityToken.AVAILABLE, lang)
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
    fun row(p: PresenceView, nowUnix: Long, lang: Lang): String =
        listOfNotNull(activity(p, lang), p.location, p.schedule.firstOrNull(), age(p.updatedUnix, nowUnix, lang))
            .joinToString(" · ")

    /** Older than this, the row is shown dimmed: the colleague has not updated for a while. */
    const val STALE_AFTER_SECONDS = 2 * 3600L

    fun isStale(c: ColleaguePresence, nowUnix: Long): Boolean {
        val updated = c.presence.updatedUnix ?: return true
        return nowUnix - updated > STALE_AFTER_SECONDS
    }
}
