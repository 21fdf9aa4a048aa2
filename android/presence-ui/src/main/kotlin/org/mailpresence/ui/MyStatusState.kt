// The My status screen's state and actions, over the core's client. Every
// action publishes; a failure becomes a message, never a crash.
package org.mailpresence.ui

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
    var ui: MyStatusUi = read(null)
        private set

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
        ui = read(error)
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
     * address with every status change. The shell starts or stops its service.
     */
    suspend fun setSharing(on: Boolean) = act { client.setLocationSharing(if (on) null else clock(), null, false) }
}
