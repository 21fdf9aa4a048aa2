// After the phone restarted (BOOT_COMPLETED) or the app was updated
// (MY_PACKAGE_REPLACED), sharing resumes only if the worker had it on and
// still allows location, and only where Android lets a location service start
// from the background now (before Android 10, or with background location
// access); elsewhere a notification asks the worker to open the app, which
// resumes it. SharingRestart decides; this carries it out.
package org.mailpresence.app

import android.Manifest
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.util.Log
import androidx.core.content.ContextCompat
import kotlinx.coroutines.launch
import org.mailpresence.ui.LaunchState
import org.mailpresence.ui.Permission
import org.mailpresence.ui.RestartStep
import org.mailpresence.ui.SharingRestart

class RestartReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action != Intent.ACTION_BOOT_COMPLETED && intent.action != Intent.ACTION_MY_PACKAGE_REPLACED) return
        val app = context.applicationContext as PresenceApp
        // The start (the account opened) runs off the main thread; the receiver
        // waits for it within the time Android gives a goAsync receiver.
        val pending = goAsync()
        app.scope.launch {
            try {
                if (app.appLaunch.finished() !is LaunchState.Ready) return@launch
                val granted = Permission.entries.filter { p ->
                    manifestName(p)?.let { ContextCompat.checkSelfPermission(context, it) == PackageManager.PERMISSION_GRANTED } == true
                }.toSet()
                when (SharingRestart.decide(app.client, granted, mayStartInBackground(context))) {
                    RestartStep.START_LOCATION_SERVICE -> if (!LocationService.start(context)) LocationService.showPaused(context)
                    RestartStep.ASK_TO_OPEN -> LocationService.showPaused(context)
                    RestartStep.NOTHING -> Unit
                }
            } catch (e: Exception) {
                Log.w("MailPresence", "sharing not resumed after ${intent.action}: $e")
            } finally {
                pending.finish()
            }
        }
    }

    /** Whether a location service started now, from the background, may run and get fixes. */
    private fun mayStartInBackground(context: Context): Boolean =
        Build.VERSION.SDK_INT < 29 ||
            ContextCompat.checkSelfPermission(context, Manifest.permission.ACCESS_BACKGROUND_LOCATION) == PackageManager.PERMISSION_GRANTED
}
