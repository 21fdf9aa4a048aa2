// The My status screen's state and actions, over the core's client: five
// activity choices with the current one highlighted, a note, a status that
// ends by itself (「会議 until 15:00」: the core keeps the end and goes back
// by itself), plans from a return-time picker and presets, clearing them,
// and what the core's events say (the published place, the outbox) without
// a manual refresh. Every action publishes; a failure becomes a message,
// never a crash.
package org.mailpresence.ui

import java.util.TimeZone
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.MailRefused
import org.mailpresence.PhoneMessage
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.PresenceListener
import org.mailpresence.protocol.ActivityToken

/** One of the activity buttons. */
data class StatusChoice(val kind: ActivityToken, val label: String, val selected: Boolean)

object StatusChoices {
    /** The five a field worker uses; the rest come from colleagues' desk phones. */
    val kinds = listOf(ActivityToken.AVAILABLE, ActivityToken.ON_SITE, ActivityToken.DRIVING, ActivityToken.MEETING, ActivityToken.BREAK)

    /** Short enough for five buttons in a row on a small phone. */
    fun label(kind: ActivityToken, lang: Lang): String = when (lang) {
        Lang.JA -> when (kind) {
            ActivityToken.AVAILABLE -> "在席"
            ActivityToken.ON_SITE -> "現場"
            ActivityToken.DRIVING -> "運転中"
            ActivityToken.MEETING -> "会議"
            ActivityToken.BREAK -> "休憩"
            else -> PresenceFormat.activityLabel(kind, lang)
        }
        Lang.EN -> when (kind) {
            ActivityToken.AVAILABLE -> "Free"
            ActivityToken.ON_SITE -> "On site"
            ActivityToken.DRIVING -> "Driving"
            ActivityToken.MEETING -> "Meeting"
            ActivityToken.BREAK -> "Break"
            else -> PresenceFormat.activityLabel(kind, lang)
        }
    }

    /** How wide a label is in half-width cells (a kanji or kana takes two). */
    fun cells(label: String): Int = label.fold(0) { n, c -> n + if (c.code < 0x1100) 1 else 2 }
}

data class MyStatusUi(
    /** The headline: 現場作業中（設備点検中）. */
    val activity: String,
    val choices: List<StatusChoice>,
    /** The note that goes with the activity (設備点検中), or "". */
    val note: String,
    /** 「15:00まで」 when the status ends by itself, then goes back. */
    val endsAt: String?,
    /** The own place, or that sharing is paused (then no Publish carries one). */
    val location: String,
    /** Whether the place goes out now (the Sharing screen has the switch). */
    val sharing: Boolean,
    val plans: List<String>,
    /** "最終送信: 5分前" / "Last published: 5 min ago". */
    val lastPublish: String,
    /** Mails waiting, in words; when the outbox is full, what to do. */
    val pending: String?,
    val outboxFull: Boolean,
    val error: String?,
)

class MyStatusState(
    private val client: PresenceClient,
    private val lang: Lang,
    private val clock: () -> Long = { System.currentTimeMillis() / 1000 },
    private val zone: TimeZone = TimeZone.getDefault(),
) : PresenceListener {
    private val current = MutableStateFlow(read(null))

    /** What the screen shows now. */
    val ui: MyStatusUi get() = current.value

    /** The same, for a screen that redraws on every change (also the core's events). */
    val updates: StateFlow<MyStatusUi> get() = current

    private fun read(error: String?): MyStatusUi {
        val own = client.ownPresence()
        val depth = client.outboxDepth()
        val sharing = client.isSharingLocation()
        val location = when {
            !sharing -> if (lang == Lang.JA) "位置情報の共有を停止中" else "Location sharing paused"
            else -> own.location ?: if (lang == Lang.JA) "位置情報なし" else "No location shared"
        }
        val age = PresenceFormat.age(own.updatedUnix, clock(), lang)
        val lastPublish = (if (lang == Lang.JA) "最終送信: " else "Last published: ") + if (own.updatedUnix == null) "—" else age
        return MyStatusUi(
            activity = PresenceFormat.activity(own, lang),
            choices = StatusChoices.kinds.map { StatusChoice(it, StatusChoices.label(it, lang), it == (own.activity ?: ActivityToken.AVAILABLE)) },
            note = own.activityText.orEmpty(),
            endsAt = client.statusEndsUnix()?.let { StatusTime.until(it, zone, lang) },
            location = location,
            sharing = sharing,
            plans = own.schedule,
            lastPublish = lastPublish,
            pending = ErrorText.outbox(depth, lang),
            outboxFull = ErrorText.outboxFull(depth),
            error = error,
        )
    }

    /** Reads the core again, keeping the message shown. Called by the core's
     *  events (from its thread) and when the screen comes back. */
    fun refresh() {
        current.value = try {
            read(ui.error)
        } catch (e: PresenceException) {
            ui.copy(error = ErrorText.of(e, lang))
        } catch (e: IllegalStateException) {
            // The client was closed (the account changed): a new state follows.
            return
        }
    }

    private suspend fun act(block: suspend () -> Unit): MyStatusUi {
        val error = try {
            block(); null
        } catch (e: PresenceException) {
            ErrorText.of(e, lang)
        }
        current.value = read(error)
        return ui
    }

    /** Sets the activity with its note; with [until] (a time of day, the
     *  next one to come) it ends by itself then and the status before returns. */
    suspend fun setActivity(kind: ActivityToken?, note: String?, until: ClockTime? = null) = act {
        client.setStatus(kind, note?.trim()?.ifEmpty { null }, until?.let { StatusTime.nextUnix(it, clock(), zone) })
    }

    suspend fun addPlan(plan: String) = act { client.addSchedule(plan) }

    /** The return time from the picker: 「15:00 帰社予定」. */
    suspend fun addReturn(at: ClockTime) = addPlan(Plans.returnAt(at, lang))

    suspend fun addPreset(preset: PlanPreset) = addPlan(preset.plan)

    suspend fun clearPlans() = act { client.clearSchedule() }

    suspend fun locationFix(lat: Double, lon: Double, accuracyM: Double?) = act { client.locationFix(lat, lon, accuracyM, null) }

    /** The presets under the picker, its return time in the first. */
    fun presets(returnAt: ClockTime): List<PlanPreset> = Plans.presets(returnAt, lang)

    /** Where the return-time picker starts. */
    fun defaultReturn(): ClockTime = StatusTime.defaultReturn(clock(), zone)

    override fun onPublished(location: String?) = refresh()
    override fun onOutboxChanged(depth: UInt) = refresh()
    override fun onColleague(colleague: ColleaguePresence) = Unit
    override fun onConnection(status: ConnectionStatus) = Unit
    override fun onMailRefused(refused: MailRefused) = Unit
    override fun onDirectory(listed: UInt, total: UInt) = Unit
    override fun onPhoneMessage(message: PhoneMessage) = Unit
}
