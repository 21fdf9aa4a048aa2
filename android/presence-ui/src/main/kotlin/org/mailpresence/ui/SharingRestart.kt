// Sharing after the phone restarted or the app was updated, before anyone
// opened the app. The location service is never restarted by Android
// (START_NOT_STICKY): a location foreground service started from the
// background throws on Android 14+ unless the app may use location in the
// background, which this app does not ask for. So: nothing when the worker
// had sharing off; sharing off in the core when location access was taken
// away (no stale address keeps going out); the service only where Android
// lets it start now; otherwise a notification asking to open the app, which
// resumes sharing (MyStatusState.resumeSharing).
package org.mailpresence.ui

import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException

/** What the shell does at boot or after an update. */
enum class RestartStep { NOTHING, START_LOCATION_SERVICE, ASK_TO_OPEN }

object SharingRestart {
    /**
     * [client]: the saved account, opened (null: none, or it could not be
     * opened); [granted]: the permissions held now; [mayStartInBackground]:
     * whether Android lets a location service start and use location from the
     * background now (before Android 10, or with background location access).
     */
    suspend fun decide(
        client: PresenceClient?,
        granted: Set<Permission>,
        mayStartInBackground: Boolean,
        clock: () -> Long = { System.currentTimeMillis() / 1000 },
    ): RestartStep {
        if (client == null) return RestartStep.NOTHING
        try {
            if (!client.isSharingLocation()) return RestartStep.NOTHING
            if (!SharingPermissions.allowLocationService(granted)) {
                client.setLocationSharing(clock(), null, false)
                return RestartStep.NOTHING
            }
        } catch (e: PresenceException) {
            // The store cannot be read or written: nothing to resume; the app says why when opened.
            return RestartStep.NOTHING
        }
        return if (mayStartInBackground) RestartStep.START_LOCATION_SERVICE else RestartStep.ASK_TO_OPEN
    }

    /** The notification of [RestartStep.ASK_TO_OPEN], and of a location service Android did not let run: title and text. */
    fun pausedNotice(lang: Lang): Pair<String, String> = if (lang == Lang.JA) {
        "位置情報の共有は一時停止中です" to "タップしてアプリを開くと、共有を再開します。"
    } else {
        "Location sharing is paused" to "Tap to open the app and resume sharing."
    }
}
