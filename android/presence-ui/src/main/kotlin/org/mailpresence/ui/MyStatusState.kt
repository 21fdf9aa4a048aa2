// The My status screen's state and actions, over the core's client. Every
// action publishes; a failure becomes a message, never a crash.
package org.mailpresence.ui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException

data class MyStatusUi(
    val activity: String,
    /** The own place, or that sharing is paused (then no Publish carries one). */
    val location: String,
    /** What the sharing switch shows. */
    val sharing: Boolean,
    val plans: List<String>,
    /** "最終送信: 5分前" / "Last published: 5 min ago". */
    val lastPublish: String,
    val pending: String?,
    val error: String?,
)

class MyStatusState(
    private val client: PresenceClient,
    private val lang: Lang,
    private val clock: () -> Long = { System.currentTimeMillis() / 1000 },
) {
    private val current = MutableStateFlow(read(null))

    /** What the screen shows now. */
    val ui: MyStatusUi get() = current.value

    /** The same, for a screen that redraws on every change. */
    val updates: StateFlow<MyStatusUi> get() = current

    private fun read(error: String?): MyStatusUi {
        val own = client.ownPresence()
        val depth = client.outboxDepth()
        val pending = when {
            depth == 0u -> null
            lang == Lang.JA -> "送信待ち ${depth}件"
            else -> "$depth waiting to be sent"
        }
        val sharing = client.isSharingLocation()
        val location = when {
            !sharing -> if (lang == Lang.JA) "位置情報の共有を停止中" else "Location sharing paused"
            else -> own.location ?: if (lang == Lang.JA) "位置情報なし" else "No location shared"
        }
        val age = PresenceFormat.age(own.updatedUnix, clock(), lang)
        val lastPublish = (if (lang == Lang.JA) "最終送信: " else "Last published: ") + if (own.updatedUnix == null) "—" else age
        return MyStatusUi(PresenceFormat.activity(own, lang), location, sharing, own.schedule, lastPublish, pending, error)
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

    suspend fun setActivity(kind: ActivityToken?, text: String?) = act { client.setStatus(kind, text) }
    suspend fun addPlan(plan: String) = act { client.addSchedule(plan) }
    suspend fun clearPlans() = act { client.clearSchedule() }
    suspend fun locationFix(lat: Double, lon: Double, accuracyM: Double?) = act { client.locationFix(lat, lon, accuracyM, null) }
    suspend fun shareLocation(untilUnix: Long?, workingHours: String?) = act { client.setLocationSharing(untilUnix, workingHours, false) }

    /**
     * The sharing switch. Off ends sharing now in the core, which publishes at
     * once without a place, and no later Publish carries one until it is on
     * again; stopping the location service alone would keep sending the last
     * address with every status change. Returns what the shell does next.
     */
    suspend fun switchSharing(on: Boolean): SharingAction {
        setSharing(on)
        return when {
            !on -> SharingAction.StopLocationService
            ui.sharing -> SharingAction.AskPermissions(SharingPermissions.asked)
            else -> SharingAction.Unchanged
        }
    }

    /**
     * The permissions the person granted, after [switchSharing] asked or when
     * the app starts with sharing on. Without a location permission no fix can
     * come, so sharing goes off in the core too (no stale address keeps going
     * out) and the screen says why.
     */
    suspend fun permissionsAnswered(granted: Set<Permission>): SharingAction {
        if (!ui.sharing) return SharingAction.StopLocationService
        if (SharingPermissions.allowLocationService(granted)) return SharingAction.StartLocationService
        setSharing(false)
        current.value = ui.copy(error = ui.error ?: if (lang == Lang.JA) {
            "位置情報の利用が許可されていないため、位置情報の共有をオフにしました。"
        } else {
            "Location access was not allowed, so location sharing is off."
        })
        return SharingAction.StopLocationService
    }

    /**
     * When the app comes to the front with sharing on: run the service if a
     * location permission is still granted; if it was taken away meanwhile,
     * sharing goes off quietly (the switch shows it).
     */
    suspend fun resumeSharing(granted: Set<Permission>): SharingAction = when {
        !ui.sharing -> SharingAction.StopLocationService
        SharingPermissions.allowLocationService(granted) -> SharingAction.StartLocationService
        else -> { setSharing(false); SharingAction.StopLocationService }
    }

    /** Sharing on or off in the core (see [switchSharing] for the whole step). */
    suspend fun setSharing(on: Boolean) = act { client.setLocationSharing(if (on) null else clock(), null, false) }
}
