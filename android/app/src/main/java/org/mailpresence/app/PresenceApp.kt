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
import org.mailpresence.SignIn
import org.mailpresence.protocol.ProviderConfig
import org.mailpresence.protocol.ProviderKind
import org.mailpresence.setLogSink
import org.mailpresence.ui.AccountSession
import org.mailpresence.ui.ColleaguesState
import org.mailpresence.ui.Lang
import org.mailpresence.ui.MailSignIn
import org.mailpresence.ui.PresenceEvents
import org.mailpresence.ui.SignInState

class PresenceApp : Application() {
    val lang: Lang by lazy { Lang.of(resources.configuration.locales[0].toLanguageTag()) }
    val colleagues: ColleaguesState by lazy { ColleaguesState(lang) }
    /** The core's one listener, shared by every screen that follows it. */
    val events: PresenceEvents by lazy { PresenceEvents().also { it.add(colleagues) } }
    val session: AccountSession by lazy {
        AccountSession(lang, AccountStore(this), events) { config ->
            val dir = filesDir.resolve("presence").path
            val client = if (config.oauth != null) PresenceClient.withSignIn(config, dir, mapPack, tokens)
            else PresenceClient(config, dir, mapPack)
            // An enrolled phone signs everything with its key.
            if (deviceKeys.load() != null) client.useDeviceKey(deviceKeys)
            client
        }
    }
    val tokens: SignInTokens by lazy { SignInTokens(this) }
    val deviceKeys: DeviceKeys by lazy { DeviceKeys(this) }

    /** The sign-in in progress or done ("Sign in with Microsoft/Google"). */
    var signIn: MailSignIn? = null
        private set

    /** The company's app registration, as IT built it into the app
     *  (gradle properties mailpresence.microsoftClientId, …); null: not offered. */
    fun provider(kind: ProviderKind): ProviderConfig? {
        val (id, tenant) = when (kind) {
            ProviderKind.MICROSOFT -> BuildConfig.MICROSOFT_CLIENT_ID to BuildConfig.MICROSOFT_TENANT.ifBlank { null }
            ProviderKind.GOOGLE -> BuildConfig.GOOGLE_CLIENT_ID to null
            ProviderKind.CUSTOM -> return null
        }
        if (id.isBlank()) return null
        return ProviderConfig(kind, id, tenant, null, null, null, null, null)
    }

    /** The network's DNS servers, for finding mail settings (the core cannot
     *  read Android's DNS configuration itself). */
    fun dnsServers(): List<String> {
        val cm = getSystemService(ConnectivityManager::class.java)
        return cm.getLinkProperties(cm.activeNetwork)?.dnsServers.orEmpty().mapNotNull { it.hostAddress }
    }

    /** The provider of the sign-in in progress. */
    private var signingInWith: ProviderConfig? = null

    /** Starts a sign-in with `provider`: the page for the Custom Tab. */
    fun beginSignIn(provider: ProviderConfig): String {
        val fresh = MailSignIn(lang, SignIn(provider, REDIRECT_URI, tokens))
        signIn = fresh
        signingInWith = provider
        return fresh.start()
    }

    /** After the redirect: signed in, the account form is saved with the
     *  provider instead of a password (the form's other fields as they were). */
    fun signedIn(state: SignInState) {
        val provider = signingInWith ?: return
        if (state == SignInState.SignedIn) session.save(session.form().copy(password = "", signIn = provider))
    }

    /** Why the saved account could not be opened at start, if it could not. */
    var startError: String? = null
        private set
    val client: PresenceClient? get() = session.client.value

    // Without the map pack (an asset missing from a build) the core still
    // runs; it only cannot turn fixes into addresses, and says so in its log.
    private val mapPack: ByteArray? by lazy { runCatching { assets.open("mappack.bin").use { it.readBytes() } }.getOrNull() }

    companion object {
        /** Registered with the provider; SignInRedirectActivity receives it. */
        const val REDIRECT_URI = "org.mailpresence.app:/oauth2redirect"
    }

    override fun onCreate() {
        super.onCreate()
        // Warnings and errors always; everything in a debug build.
        setLogSink(CoreLog, if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.WARN)
        // A worker who signed in before: the Account screen shows it (and checks it).
        session.form().signIn?.let { saved ->
            signIn = MailSignIn(lang, SignIn(saved, REDIRECT_URI, tokens))
            signingInWith = saved
        }
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
