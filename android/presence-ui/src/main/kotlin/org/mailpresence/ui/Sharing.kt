// The location-sharing screen: off until the worker turns it on; the
// platform's permission steps as a state machine (explain → ask → denied →
// denied for good → "open Settings"), the core turned on only once a
// location permission is granted; the shift hours and "share until" the core
// keeps; and a "sharing now" indicator that follows the core. The decisions
// live here so they are tested; the shell maps the names to Android's
// permission strings, shows the prompts, and starts or stops its service.
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
import org.mailpresence.SharingSettings

/** The permissions sharing involves, by plain names (the shell maps them). */
enum class Permission { FINE_LOCATION, COARSE_LOCATION, NOTIFICATIONS }

/** What the platform says of location access, in plain names. */
enum class LocationAccess {
    GRANTED,

    /** Never asked: explain, then ask. */
    NOT_ASKED,

    /** Turned down, and the platform will ask again. */
    DENIED,

    /** Turned down for good: only the Settings app can allow it now. */
    DENIED_FOR_GOOD;

    companion object {
        /** Android's answer: the permissions granted, whether it wants a
         *  rationale shown (`shouldShowRequestPermissionRationale`), and
         *  whether the app asked before (Android says "no rationale" both
         *  before the first request and after a denial for good). */
        fun android(granted: Set<Permission>, showRationale: Boolean, askedBefore: Boolean): LocationAccess = when {
            SharingPermissions.allowLocationService(granted) -> GRANTED
            showRationale -> DENIED
            askedBefore -> DENIED_FOR_GOOD
            else -> NOT_ASKED
        }
    }
}

/** What the shell does next. */
sealed interface SharingAction {
    /** Show the system's permission request, then hand the answer to [SharingState.answered]. */
    data class AskPermissions(val permissions: List<Permission>) : SharingAction

    /** Deliver location fixes to the core (a foreground location service). */
    data object StartLocationService : SharingAction

    /** No more fixes: stop the location service if it runs. */
    data object StopLocationService : SharingAction

    /** Open this app's page in the Settings app. */
    data object OpenSettings : SharingAction

    /** Nothing to do (a prompt is shown, or the core refused; the screen says). */
    data object Unchanged : SharingAction
}

/** What the screen shows over the switch while permission is sorted out. */
sealed interface SharingPrompt {
    data object None : SharingPrompt

    /** Why the app asks, before the system's request: Continue / Not now. */
    data class Rationale(val text: String) : SharingPrompt

    /** Turned down: sharing stays off; switching on again asks again. */
    data class Denied(val text: String) : SharingPrompt

    /** Turned down for good: the "Open Settings" button. */
    data class DeniedForGood(val text: String, val button: String) : SharingPrompt
}

data class SharingUi(
    /** The switch: the worker turned sharing on (and its end has not passed). */
    val on: Boolean,
    /** The indicator: the place goes out with Publishes now. */
    val sharingNow: Boolean,
    /** 「位置情報を共有中」, 「勤務時間外のため一時停止中（08:00-19:00）」, … */
    val indicator: String,
    /** The shift, `08:00-19:00`, or "" for none. */
    val workingHours: String,
    /** 「18:00まで」 when sharing ends by itself. */
    val until: String?,
    val prompt: SharingPrompt,
    val error: String?,
    /** When the indicator may change by itself (a shift's edge, the end):
     *  the screen calls [SharingState.refresh] then. */
    val nextChangeUnix: Long?,
)

object SharingPermissions {
    /** Asked together when sharing goes on: a place needs a location
     * permission, and the foreground service shows a notification. */
    val asked = listOf(Permission.FINE_LOCATION, Permission.COARSE_LOCATION, Permission.NOTIFICATIONS)

    /** Only a location permission lets the location service run: with
     * notifications alone, Android 14 refuses a location foreground service
     * (SecurityException) and no fix could arrive anyway. */
    fun allowLocationService(granted: Set<Permission>): Boolean =
        Permission.FINE_LOCATION in granted || Permission.COARSE_LOCATION in granted
}

class SharingState(
    private val client: PresenceClient,
    private val lang: Lang,
    private val clock: () -> Long = { System.currentTimeMillis() / 1000 },
    private val zone: TimeZone = TimeZone.getDefault(),
) : PresenceListener {
    /** The shift and end the screen shows: the core's while sharing is on,
     *  the worker's choice kept for the next "on" while it is off. */
    private var hours: String? = null
    private var until: ClockTime? = null
    private val current = MutableStateFlow(read(SharingPrompt.None, null, adopt = true))

    val ui: SharingUi get() = current.value
    val updates: StateFlow<SharingUi> get() = current

    private fun ja(ja: String, en: String) = if (lang == Lang.JA) ja else en

    /** The screen from the core; [adopt]: take the core's shift and end as
     *  the choice (at start, and whenever sharing is on). */
    private fun read(prompt: SharingPrompt, error: String?, adopt: Boolean = false): SharingUi {
        val s = client.sharingSettings()
        val now = clock()
        val on = s.on && (s.untilUnix ?: Long.MAX_VALUE) > now
        if (adopt || on) {
            hours = s.workingHours
            until = s.untilUnix?.takeIf { it > now }?.let { StatusTime.clockOf(it, zone) }
        }
        return SharingUi(
            on = on,
            sharingNow = s.sharingNow,
            indicator = indicator(s, on),
            workingHours = hours.orEmpty(),
            until = until?.let { StatusTime.until(StatusTime.nextUnix(it, now, zone), zone, lang) },
            prompt = prompt,
            error = error,
            nextChangeUnix = s.nextChangeUnix,
        )
    }

    private fun indicator(s: SharingSettings, on: Boolean): String = when {
        s.sharingNow -> ja("位置情報を共有中", "Sharing your location now")
        on && s.workingHours != null -> ja("勤務時間外のため一時停止中（${s.workingHours}）", "Paused outside your hours (${s.workingHours})")
        else -> ja("位置情報は共有していません", "Not sharing your location")
    }

    private fun show(prompt: SharingPrompt = ui.prompt, error: String? = null) {
        current.value = read(prompt, error)
    }

    /** Runs a change in the core; a refusal becomes the screen's message. */
    private suspend fun core(block: suspend () -> Unit): Boolean = try {
        block(); true
    } catch (e: PresenceException) {
        show(ui.prompt, ErrorText.of(e, lang)); false
    }

    /** The choice into the core: sharing on, published at once. */
    private suspend fun push(): Boolean {
        val coordinates = client.sharingSettings().shareCoordinates
        return core { client.setLocationSharing(until?.let { StatusTime.nextUnix(it, clock(), zone) }, hours, coordinates) }
    }

    private suspend fun turnOn(): SharingAction {
        if (!push()) return SharingAction.Unchanged
        show(SharingPrompt.None)
        return SharingAction.StartLocationService
    }

    private fun rationale() = SharingPrompt.Rationale(ja(
        "同僚に現在地の住所（正確な位置ではありません）を知らせるため、位置情報の利用を許可してください。共有は勤務時間内だけにでき、いつでもオフにできます。",
        "To tell colleagues the address you are at (not your exact position), allow location access. You can limit sharing to your hours and turn it off at any time.",
    ))

    private fun denied() = SharingPrompt.Denied(ja(
        "位置情報の利用が許可されなかったため、共有はオフのままです。もう一度オンにすると再度確認します。",
        "Location access was not allowed, so sharing stays off. Turn it on again to be asked again.",
    ))

    private fun deniedForGood() = SharingPrompt.DeniedForGood(
        ja("位置情報の利用が許可されていません。共有するには、設定アプリでこのアプリに位置情報を許可してください。",
            "Location access is turned off for this app. To share, allow location for it in the Settings app."),
        ja("設定を開く", "Open Settings"),
    )

    /** The switch turned on, with the access the platform reports now. The
     *  core shares only once access is granted. */
    suspend fun switchOn(access: LocationAccess): SharingAction = when (access) {
        LocationAccess.GRANTED -> turnOn()
        LocationAccess.NOT_ASKED, LocationAccess.DENIED -> { show(rationale()); SharingAction.Unchanged }
        LocationAccess.DENIED_FOR_GOOD -> { show(deniedForGood()); SharingAction.Unchanged }
    }

    /** "Continue" under the explanation: the system's request. */
    fun rationaleAccepted(): SharingAction {
        show(SharingPrompt.None)
        return SharingAction.AskPermissions(SharingPermissions.asked)
    }

    /** "Not now": sharing stays off. */
    fun rationaleDeclined() = show(SharingPrompt.None)

    /** The system's request was answered. */
    suspend fun answered(access: LocationAccess): SharingAction = when (access) {
        LocationAccess.GRANTED -> turnOn()
        LocationAccess.NOT_ASKED -> SharingAction.Unchanged
        LocationAccess.DENIED -> { show(denied()); SharingAction.StopLocationService }
        LocationAccess.DENIED_FOR_GOOD -> { show(deniedForGood()); SharingAction.StopLocationService }
    }

    /** The "Open Settings" button. */
    fun openSettings(): SharingAction = SharingAction.OpenSettings

    /** The switch turned off: the core publishes at once without the place,
     *  and no later Publish carries one until it is on again. */
    suspend fun switchOff(): SharingAction {
        if (core { client.stopLocationSharing() }) show(SharingPrompt.None)
        return SharingAction.StopLocationService
    }

    /** The app came to the front: the service runs on if sharing is on and
     *  access still granted; access taken away meanwhile turns sharing off
     *  quietly (the switch shows it). */
    suspend fun resumed(access: LocationAccess): SharingAction {
        show()
        if (!ui.on) return SharingAction.StopLocationService
        if (access == LocationAccess.GRANTED) return SharingAction.StartLocationService
        switchOff()
        return SharingAction.StopLocationService
    }

    /** The shift, `08:00-19:00` (blank: all day). While sharing is on the
     *  core publishes with it at once; while off it is kept for "on". */
    suspend fun setWorkingHours(text: String) {
        val written = text.trim()
        val parts = HOURS.find(written)?.destructured?.let { (a, b) -> ClockTime.parse(a) to ClockTime.parse(b) }
        if (written.isNotEmpty() && (parts?.first == null || parts.second == null)) {
            show(ui.prompt, ja("勤務時間は 08:00-19:00 の形で入力してください。", "Enter your hours as 08:00-19:00."))
            return
        }
        hours = parts?.let { (a, b) -> "$a-$b" }
        if (!ui.on || push()) show(ui.prompt)
    }

    /** Share until the next [at] (today, or tomorrow once it passed); null: no end. */
    suspend fun setUntil(at: ClockTime?) {
        until = at
        if (!ui.on || push()) show(ui.prompt)
    }

    /** Reads the core again (its events; the indicator's next change). */
    fun refresh() {
        try {
            show(ui.prompt, ui.error)
        } catch (e: PresenceException) {
            current.value = ui.copy(error = ErrorText.of(e, lang))
        } catch (e: IllegalStateException) {
            // The client was closed (the account changed): a new state follows.
        }
    }

    override fun onPublished(location: String?) = refresh()
    override fun onOutboxChanged(depth: UInt) = Unit
    override fun onColleague(colleague: ColleaguePresence) = Unit
    override fun onConnection(status: ConnectionStatus) = Unit
    override fun onMailRefused(refused: MailRefused) = Unit
    override fun onDirectory(listed: UInt, total: UInt) = Unit
    override fun onPhoneMessage(message: PhoneMessage) = Unit

    private companion object {
        val HOURS = Regex("^(\\d{1,2}:\\d{2})\\s*[-~〜～]\\s*(\\d{1,2}:\\d{2})$")
    }
}
