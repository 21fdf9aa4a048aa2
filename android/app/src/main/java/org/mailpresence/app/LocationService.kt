// A foreground service that hands location fixes to the core while sharing is
// on. The core decides whether a fix is worth a Publish (address changed);
// this service only delivers fixes, about once a minute, balanced power.
//
// It is started only from the app on screen (MainActivity) or where Android
// allows it after a restart (RestartReceiver), and never asks Android to
// restart it (START_NOT_STICKY): a location foreground service started from
// the background throws on Android 12+ (ForegroundServiceStartNotAllowedException)
// and 14+ (SecurityException, no while-in-use location), and with START_STICKY
// that was a crash loop. When Android refuses, the service logs it, shows
// "sharing is paused, tap to resume" and stops; opening the app resumes.
package org.mailpresence.app

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.os.IBinder
import android.os.Looper
import android.util.Log
import androidx.core.app.ServiceCompat
import com.google.android.gms.location.LocationCallback
import com.google.android.gms.location.LocationRequest
import com.google.android.gms.location.LocationResult
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import org.mailpresence.ui.SharingRestart

class LocationService : Service() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val fused by lazy { LocationServices.getFusedLocationProviderClient(this) }
    private var updating = false
    private val callback = object : LocationCallback() {
        override fun onLocationResult(result: LocationResult) {
            val client = (application as PresenceApp).client ?: return
            for (fix in result.locations) {
                scope.launch {
                    runCatching { client.locationFix(fix.latitude, fix.longitude, fix.accuracy.toDouble(), fix.time) }
                }
            }
        }
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        val channel = NotificationChannel(CHANNEL, getString(R.string.location_notification), NotificationManager.IMPORTANCE_LOW)
        getSystemService(NotificationManager::class.java).createNotificationChannel(channel)
        val notification = Notification.Builder(this, CHANNEL)
            .setContentTitle(getString(R.string.app_name))
            .setContentText(getString(R.string.location_notification))
            .setSmallIcon(android.R.drawable.ic_menu_mylocation)
            .setContentIntent(openApp(this))
            .build()
        try {
            // The 3-argument startForeground exists from API 29; minSdk is 26.
            ServiceCompat.startForeground(this, NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_LOCATION)
        } catch (e: IllegalStateException) {
            // ForegroundServiceStartNotAllowedException (API 31+, an IllegalStateException): started from the background.
            return refused(startId, "not allowed from the background: $e")
        } catch (e: SecurityException) {
            // Android 14+: no location permission usable now (while-in-use access with the app in the background).
            return refused(startId, "no location permission usable now: $e")
        }
        val request = LocationRequest.Builder(Priority.PRIORITY_BALANCED_POWER_ACCURACY, 60_000).setMinUpdateDistanceMeters(50f).build()
        try {
            fused.requestLocationUpdates(request, callback, Looper.getMainLooper())
            updating = true
            clearPaused(this)
        } catch (e: SecurityException) {
            return refused(startId, "location permission withdrawn: $e")
        }
        return START_NOT_STICKY
    }

    private fun refused(startId: Int, why: String): Int {
        Log.w(TAG, "location service not running ($why); sharing resumes when the app is opened")
        showPaused(this)
        stopSelf(startId)
        return START_NOT_STICKY
    }

    override fun onDestroy() {
        if (updating) fused.removeLocationUpdates(callback)
        scope.cancel()
        super.onDestroy()
    }

    override fun onBind(intent: Intent?): IBinder? = null

    companion object {
        private const val TAG = "MailPresence"
        private const val CHANNEL = "location"
        private const val NOTIFICATION_ID = 1
        private const val PAUSED_ID = 2

        /** Opens the app on its status screen (which resumes sharing). */
        fun openApp(context: Context): PendingIntent = PendingIntent.getActivity(
            context, 0,
            Intent(context, MainActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_SINGLE_TOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )

        /** "Location sharing is paused — tap to resume", where notifications are allowed. */
        fun showPaused(context: Context) {
            val manager = context.getSystemService(NotificationManager::class.java)
            if (!manager.areNotificationsEnabled()) return
            val lang = (context.applicationContext as PresenceApp).lang
            val (title, text) = SharingRestart.pausedNotice(lang)
            manager.createNotificationChannel(NotificationChannel(CHANNEL, context.getString(R.string.location_notification), NotificationManager.IMPORTANCE_LOW))
            manager.notify(PAUSED_ID, Notification.Builder(context, CHANNEL)
                .setContentTitle(title)
                .setContentText(text)
                .setSmallIcon(android.R.drawable.ic_menu_mylocation)
                .setContentIntent(openApp(context))
                .setAutoCancel(true)
                .build())
        }

        /** The paused notice is moot once sharing runs again. */
        fun clearPaused(context: Context) {
            context.getSystemService(NotificationManager::class.java).cancel(PAUSED_ID)
        }

        /** Starts the service; false when Android refused (the caller is in the background). */
        fun start(context: Context): Boolean = try {
            context.startForegroundService(Intent(context, LocationService::class.java))
            true
        } catch (e: IllegalStateException) {
            // ForegroundServiceStartNotAllowedException (API 31+), or a background start refused.
            Log.w(TAG, "location service not started: $e")
            false
        }
    }
}
