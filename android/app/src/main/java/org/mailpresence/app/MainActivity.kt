// The five screens (My status, Colleagues, Sharing, Account, About) in
// Compose. They draw state from the presence-ui layer and carry out what it
// decides (permissions, the location service, the Settings app); no logic
// here. The screens themselves: StatusScreen.kt, SharingScreen.kt,
// AccountScreen.kt; Colleagues and About below. While the app starts
// (AppLaunch, off the main thread) a loading screen; if the start failed, a
// screen saying what failed.
package org.mailpresence.app

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.ui.Alignment
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.LifecycleEventObserver
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.alpha
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.browser.customtabs.CustomTabsIntent
import androidx.core.content.ContextCompat
import androidx.compose.ui.platform.LocalContext
import android.net.Uri
import android.provider.Settings
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.launch
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.ui.ContactAction
import org.mailpresence.ui.ErrorText
import org.mailpresence.ui.LaunchState
import org.mailpresence.ui.LocationAccess
import org.mailpresence.ui.MyStatusState
import org.mailpresence.ui.Permission
import org.mailpresence.ui.SharingAction
import org.mailpresence.ui.SharingState
import org.mailpresence.ui.SignInState
import org.mailpresence.protocol.ProviderKind

class MainActivity : ComponentActivity() {
    /** The sharing screen's state, which hears the permission answers. */
    private var sharing: SharingState? = null

    private val askPermissions = registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        val state = sharing ?: return@registerForActivityResult
        lifecycleScope.launch { carryOut(state.answered(locationAccess())) }
    }

    /** Android's answer in the plain layer's words. Android gives no
     *  rationale both before the first request and after a denial for good:
     *  whether the app asked before tells them apart. */
    private fun locationAccess(): LocationAccess = LocationAccess.android(
        grantedNow(),
        shouldShowRequestPermissionRationale(Manifest.permission.ACCESS_FINE_LOCATION),
        getSharedPreferences("sharing", MODE_PRIVATE).getBoolean("asked", false),
    )

    /** What SharingState decided, done with Android's means. */
    private fun carryOut(action: SharingAction) {
        when (action) {
            is SharingAction.AskPermissions -> {
                getSharedPreferences("sharing", MODE_PRIVATE).edit().putBoolean("asked", true).apply()
                askPermissions.launch(action.permissions.mapNotNull(::manifestName).toTypedArray())
            }
            SharingAction.StartLocationService -> if (!LocationService.start(this)) LocationService.showPaused(this)
            SharingAction.StopLocationService -> {
                stopService(Intent(this, LocationService::class.java))
                LocationService.clearPaused(this)
            }
            SharingAction.OpenSettings -> startActivity(
                Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", packageName, null)),
            )
            SharingAction.Unchanged -> Unit
        }
    }

    /** Back from the Settings app (or anywhere): access may have changed. */
    override fun onResume() {
        super.onResume()
        val state = sharing ?: return
        lifecycleScope.launch { carryOut(state.resumed(locationAccess())) }
    }

    private fun grantedNow(): Set<Permission> = Permission.entries.filter { p ->
        manifestName(p)?.let { ContextCompat.checkSelfPermission(this, it) == PackageManager.PERMISSION_GRANTED } == true
    }.toSet()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as PresenceApp
        // Back on screen (also after the worker changed the permission in
        // Settings): sharing runs on, or goes off if access was taken away.
        lifecycle.addObserver(LifecycleEventObserver { _, event ->
            val state = sharing
            if (event == Lifecycle.Event.ON_RESUME && state != null) lifecycleScope.launch { carryOut(state.resumed(locationAccess())) }
        })
        setContent {
            MaterialTheme {
                when (val started = app.appLaunch.state.collectAsState().value) {
                    LaunchState.Starting -> Loading(stringResource(R.string.loading))
                    is LaunchState.Failed -> LaunchFailed(started)
                    is LaunchState.Ready -> Screens(app)
                }
            }
        }
    }

    @Composable
    private fun Screens(app: PresenceApp) {
        val client by app.session.client.collectAsState()
        val opening by app.session.opening.collectAsState()
        var tab by remember { mutableStateOf(if (client == null) 3 else 0) }
        Scaffold(topBar = {
            // A new place detail or a saved account reopens the core (off the main thread).
            if (opening) Column {
                LinearProgressIndicator(Modifier.fillMaxWidth())
                Text(stringResource(R.string.opening_account), Modifier.padding(8.dp))
            }
        }, bottomBar = {
            NavigationBar {
                listOf(R.string.tab_status, R.string.tab_colleagues, R.string.tab_sharing, R.string.tab_account, R.string.tab_about).forEachIndexed { i, label ->
                    NavigationBarItem(selected = tab == i, onClick = { tab = i }, icon = {}, label = { Text(stringResource(label)) })
                }
            }
        }) { padding ->
            Column(Modifier.padding(padding).padding(16.dp)) {
                val open = client
                // A new client (the account changed) gets new states;
                // sharing resumes (or goes off) whichever tab shows.
                val sharingState = open?.let { remember(it) { SharingState(it, app.lang) } }
                if (sharingState != null) {
                    DisposableEffect(sharingState) {
                        sharing = sharingState
                        val heard = app.events.add(sharingState)
                        lifecycleScope.launch { carryOut(sharingState.resumed(locationAccess())) }
                        onDispose { heard.close() }
                    }
                }
                when {
                    tab == 0 && open != null -> {
                        val state = remember(open) { MyStatusState(open, app.lang) }
                        DisposableEffect(state) {
                            val heard = app.events.add(state)
                            state.refresh()
                            onDispose { heard.close() }
                        }
                        MyStatusScreen(app, state)
                    }
                    tab == 1 && open != null -> ColleaguesScreen(app, open)
                    tab == 2 && sharingState != null -> SharingScreen(sharingState, ::locationAccess, ::carryOut)
                    tab == 4 -> AboutScreen(app)
                    else -> AccountScreen(app)
                }
            }
        }
    }
}

@Composable
fun Loading(text: String) {
    Column(Modifier.fillMaxSize().padding(32.dp), verticalArrangement = Arrangement.Center, horizontalAlignment = Alignment.CenterHorizontally) {
        CircularProgressIndicator()
        Text(text, Modifier.padding(top = 16.dp))
    }
}

/** What failed at start, what to do, and the error itself for IT. */
@Composable
fun LaunchFailed(failed: LaunchState.Failed) {
    Column(Modifier.fillMaxSize().padding(24.dp).verticalScroll(rememberScrollState())) {
        Text(failed.title, style = MaterialTheme.typography.headlineSmall, color = MaterialTheme.colorScheme.error)
        Text(failed.text, Modifier.padding(vertical = 16.dp))
        Text(stringResource(R.string.details_for_it), style = MaterialTheme.typography.labelLarge)
        Text(failed.detail, style = MaterialTheme.typography.bodySmall)
    }
}

/** The plain layer's permission names as Android's (null: not on this API level). */
fun manifestName(p: Permission): String? = when (p) {
    Permission.FINE_LOCATION -> Manifest.permission.ACCESS_FINE_LOCATION
    Permission.COARSE_LOCATION -> Manifest.permission.ACCESS_COARSE_LOCATION
    Permission.NOTIFICATIONS -> if (Build.VERSION.SDK_INT >= 33) Manifest.permission.POST_NOTIFICATIONS else null
}

@OptIn(ExperimentalMaterial3Api::class) // PullToRefreshBox
@Composable
fun ColleaguesScreen(app: PresenceApp, client: PresenceClient) {
    // Follows live in the core (ColleaguesState.follow), not in this screen:
    // leaving it ends nothing.
    val known by app.colleagues.colleagues.collectAsState()
    val followed by app.colleagues.followed.collectAsState()
    val directory by app.colleagues.directory.collectAsState()
    val connection by app.colleagues.connection.collectAsState()
    var query by remember { mutableStateOf("") }
    var problem by remember { mutableStateOf<String?>(null) }
    var chosen by remember { mutableStateOf<String?>(null) }
    var refreshing by remember { mutableStateOf(false) }
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    connection?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    problem?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    OutlinedTextField(query, { query = it }, label = { Text(stringResource(R.string.search_hint)) }, singleLine = true)
    if (query.isNotBlank()) {
        val found = remember(query, directory, followed) { app.colleagues.search(query) }
        directory?.let { d -> if (d.total > d.listed) Text(stringResource(R.string.directory_cut, d.listed.toInt(), d.total.toInt())) }
        LazyColumn {
            items(found, key = { it.entry.account }) { f ->
                Row(Modifier.padding(vertical = 6.dp)) {
                    Column(Modifier.weight(1f)) {
                        Text(f.entry.name, style = MaterialTheme.typography.titleMedium)
                        Text(listOfNotNull(f.entry.reading, f.entry.department, f.entry.extension).joinToString(" · "))
                    }
                    if (!f.following) {
                        Button(onClick = { scope.launch { problem = app.colleagues.follow(listOf(f.entry.account)) } }) { Text(stringResource(R.string.follow)) }
                    }
                }
            }
        }
        return
    }
    PullToRefreshBox(isRefreshing = refreshing, onRefresh = {
        scope.launch {
            refreshing = true
            runCatching { client.sync(); app.colleagues.refreshDirectory() }
            refreshing = false
        }
    }) {
        LazyColumn {
            items(app.colleagues.rows(), key = { it.account + known.size + followed.size }) { row ->
                Column(Modifier.padding(vertical = 8.dp).alpha(if (row.stale) 0.5f else 1f).clickable { chosen = if (chosen == row.account) null else row.account }) {
                    Text(row.name, style = MaterialTheme.typography.titleMedium)
                    Text(row.text)
                    if (chosen == row.account) Row {
                        app.colleagues.contactActions(row.account).forEach { action ->
                            Button(onClick = { runCatching { context.startActivity(Intent(if (action.kind == ContactAction.Kind.MAIL) Intent.ACTION_SENDTO else Intent.ACTION_DIAL, Uri.parse(action.uri))) } }) { Text(action.label) }
                        }
                        if (row.followed) Button(onClick = { scope.launch { problem = app.colleagues.unfollow(row.account); chosen = null } }) { Text(stringResource(R.string.unfollow)) }
                    }
                }
            }
        }
    }
}

/** "Sign in with Microsoft" / "Sign in with Google" where IT registered the app,
 *  opened in a Custom Tab; the redirect comes back to SignInRedirectActivity. */
@Composable
fun SignInButtons(app: PresenceApp) {
    val context = LocalContext.current
    val state = app.signIn?.state?.collectAsState()?.value
    val scope = rememberCoroutineScope()
    LaunchedEffect(app.signIn) { app.signIn?.refresh() }
    Row {
        listOf(ProviderKind.MICROSOFT to R.string.sign_in_microsoft, ProviderKind.GOOGLE to R.string.sign_in_google).forEach { (kind, label) ->
            val provider = app.provider(kind) ?: return@forEach
            Button(onClick = {
                runCatching { app.beginSignIn(provider) }.onSuccess { url ->
                    CustomTabsIntent.Builder().build().launchUrl(context, Uri.parse(url))
                }
            }) { Text(stringResource(label)) }
        }
    }
    when (state) {
        SignInState.SignedIn -> Row {
            Text(stringResource(R.string.signed_in))
            Button(onClick = { scope.launch { app.signIn?.signOut() } }) { Text(stringResource(R.string.sign_out)) }
        }
        is SignInState.SignInAgain -> Text(state.message, color = MaterialTheme.colorScheme.error)
        is SignInState.Failed -> Text(state.message, color = MaterialTheme.colorScheme.error)
        else -> Unit
    }
}

@Composable
fun AboutScreen(app: PresenceApp) {
    Text(stringResource(R.string.about_text))
    app.client?.attributions()?.forEach { Text("• $it") }
}
