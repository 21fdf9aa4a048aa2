// The application: one AccountSession (the saved account and the client
// opened from it, password from the encrypted preferences), with the app's
// lifecycle and the network passed on to the core.
package org.mailpresence.app

import android.app.Application
import android.net.ConnectivityManager
import android.net.Network
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import org.mailpresence.LogLevel
import org.mailpresence.PresenceClient
import org.mailpresence.setLogSink
import org.mailpresence.ui.AccountSession
import org.mailpresence.ui.ColleaguesState
import org.mailpresence.ui.Lang

class PresenceApp : Application() {
    val lang: Lang by lazy { Lang.of(resources.configuration.locales[0].toLanguageTag()) }
    val colleagues: ColleaguesState by lazy { ColleaguesState(lang) }
    val session: AccountSession by lazy {
        AccountSession(lang, AccountStore(this), colleagues) { config ->
            PresenceClient(config, filesDir.resolve("presence").path, mapPack)
        }
    }
    /** Why the saved account could not be opened at start, if it could not. */
    var startError: String? = null
        private set
    val client: PresenceClient? get() = session.client.value

    // Without the map pack (an asset missing from a build) the core still
    // runs; it only cannot turn fixes into addresses, and says so in its log.
    private val mapPack: ByteArray? by lazy { runCatching { assets.open("mappack.bin").use { it.readBytes() } }.getOrNull() }

    override fun onCreate() {
        super.onCreate()
        // Warnings and errors always; everything in a debug build.
        setLogSink(CoreLog, if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.WARN)
        startError = session.openSaved()
        getSystemService(ConnectivityManager::class.java).registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) { client?.networkChanged(true) }
            override fun onLost(network: Network) { client?.networkChanged(false) }
        })
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            // In the foreground the core keeps IMAP IDLE open; in the background
            // the location service keeps the process, WorkManager-free.
            override fun onStart(owner: LifecycleOwner) { client?.start() }
        })
    }
}
