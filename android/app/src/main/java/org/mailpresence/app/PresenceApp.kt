// The application: one PresenceClient for the whole app, opened from the saved
// account (password from the encrypted preferences), with the app's
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
import org.mailpresence.PresenceException
import org.mailpresence.ui.ErrorText
import org.mailpresence.setLogSink
import org.mailpresence.ui.AccountForm
import org.mailpresence.ui.ColleaguesState
import org.mailpresence.ui.Lang

class PresenceApp : Application() {
    val lang: Lang by lazy { Lang.of(resources.configuration.locales[0].toLanguageTag()) }
    val colleagues: ColleaguesState by lazy { ColleaguesState(lang) }
    var client: PresenceClient? = null
        private set

    override fun onCreate() {
        super.onCreate()
        // Warnings and errors always; everything in a debug build.
        setLogSink(CoreLog, if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.WARN)
        AccountStore(this).load()?.let { open(it) }
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

    /**
     * Opens the core for a (validated) account form, replacing and closing the
     * client before it. Returns the failure in words (and keeps the old client)
     * instead of crashing the app on Save.
     */
    fun open(form: AccountForm): String? {
        // Without the map pack (an asset missing from a build) the core still
        // runs; it only cannot turn fixes into addresses, and says so in its log.
        val mapPack = runCatching { assets.open("mappack.bin").use { it.readBytes() } }.getOrNull()
        val c = try {
            PresenceClient(form.toConfig(lang), filesDir.resolve("presence").path, mapPack)
        } catch (e: PresenceException) {
            return ErrorText.of(e, lang)
        }
        client?.let { it.stop(); it.close() }
        c.setListener(colleagues)
        c.start()
        client = c
        return null
    }
}
