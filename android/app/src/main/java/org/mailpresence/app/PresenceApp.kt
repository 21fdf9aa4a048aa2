// The application: one AccountSession (the saved account and the client
// opened from it, password from the encrypted preferences), with the app's
// lifecycle and the network passed on to the core. The start (AppLaunch) runs
// off the main thread: the core library loaded, the key store read, the saved
// account opened; a part that fails is shown by MainActivity, never a crash.
package org.mailpresence.app

import android.app.Application
import android.net.ConnectivityManager
import android.net.Network
import android.util.Log
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.mailpresence.LogLevel
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.SignIn
import org.mailpresence.protocol.ProviderConfig
import org.mailpresence.protocol.ProviderKind
import org.mailpresence.setLogSink
import org.mailpresence.ui.AccountSession
import org.mailpresence.ui.AppLaunch
import org.mailpresence.ui.ColleaguesState
import org.mailpresence.ui.Lang
import org.mailpresence.ui.LaunchState
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
    @Volatile var signIn: MailSignIn? = null
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
    @Volatile private var signingInWith: ProviderConfig? = null

    /** Starts a sign-in with `provider`: the page for the Custom Tab. */
    fun beginSignIn(provider: ProviderConfig): String {
        val fresh = MailSignIn(lang, SignIn(provider, REDIRECT_URI, tokens))
        signIn = fresh
        signingInWith = provider
        return fresh.start()
    }

    /** After the redirect: signed in, the account form is saved with the
     *  provider instead of a password (the form's other fields as they were). */
    suspend fun signedIn(state: SignInState) {
        val provider = signingInWith ?: return
        if (state == SignInState.SignedIn) session.save(session.form().copy(password = "", signIn = provider))
    }

    /** The start: loading, running (with why the saved account could not be opened), or what failed. */
    val appLaunch: AppLaunch by lazy { AppLaunch(lang) }

    /** Why the saved account could not be opened at start, if it could not. */
    val startError: String? get() = (appLaunch.state.value as? LaunchState.Ready)?.accountProblem

    /** The client, or null (no account, still opening, or the start failed). */
    val client: PresenceClient? get() = session.client.value

    /** Work that outlives a screen: the start, a receiver's work after boot. */
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    // Without the map pack (an asset missing from a build) the core still
    // runs; it only cannot turn fixes into addresses, and says so in its log.
    // Read on the session's io dispatcher when a client is opened.
    private val mapPack: ByteArray? by lazy { runCatching { assets.open("mappack.bin").use { it.readBytes() } }.getOrNull() }

    companion object {
        /** Registered with the provider; SignInRedirectActivity receives it. */
        const val REDIRECT_URI = "org.mailpresence.app:/oauth2redirect"
    }

    override fun onCreate() {
        super.onCreate()
        scope.launch {
            val state = appLaunch.run(
                // The first call into the core loads it (JNA): warnings and errors always, everything in a debug build.
                loadCore = { setLogSink(CoreLog, if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.WARN) },
                // Every encrypted preference, read once here: a broken key store shows up now, not in a later tap.
                openKeyStore = {
                    deviceKeys.load()
                    tokens.load()
                    session.form()
                },
                openAccount = {
                    // A worker who signed in before: the Account screen shows it (and checks it).
                    session.form().signIn?.let { saved ->
                        try {
                            signIn = MailSignIn(lang, SignIn(saved, REDIRECT_URI, tokens))
                            signingInWith = saved
                        } catch (e: PresenceException) {
                            Log.w("MailPresence", "the saved sign-in could not be restored: $e")
                        }
                    }
                    session.openSaved()
                },
            )
            if (state is LaunchState.Failed) {
                Log.e("MailPresence", "start failed at ${state.part}: ${state.detail}")
                return@launch
            }
            // Each client opened (at start, after a Save) shows what its store
            // kept: the followed colleagues at once, before any mail.
            scope.launch {
                session.client.collect { c ->
                    c?.let { runCatching { colleagues.attach(it) }.onFailure { e -> Log.w("MailPresence", "colleagues: $e") } }
                }
            }
            getSystemService(ConnectivityManager::class.java).registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
                override fun onAvailable(network: Network) { client?.networkChanged(true) }
                override fun onLost(network: Network) { client?.networkChanged(false) }
            })
            withContext(Dispatchers.Main) {
                ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
                    // In the foreground the core keeps IMAP IDLE open; in the background
                    // the location service keeps the process, WorkManager-free.
                    override fun onStart(owner: LifecycleOwner) { client?.start() }
                })
            }
        }
    }
}
