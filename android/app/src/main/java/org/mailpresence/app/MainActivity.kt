// The four screens (My status, Colleagues, Account, About) in Compose. They
// draw state from the presence-ui layer and carry out what it decides
// (permissions, the location service); no logic here. While the app starts
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
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.runtime.Composable
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
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.launch
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.ui.AccountForm
import org.mailpresence.ui.ContactAction
import org.mailpresence.ui.ErrorText
import org.mailpresence.ui.LaunchState
import org.mailpresence.ui.MyStatusState
import org.mailpresence.ui.Permission
import org.mailpresence.ui.PresenceFormat
import org.mailpresence.ui.SaveResult
import org.mailpresence.ui.SharingAction
import org.mailpresence.ui.SignInState
import org.mailpresence.protocol.ProviderKind

class MainActivity : ComponentActivity() {
    /** The status screen's state, which hears the permission answers. */
    private var status: MyStatusState? = null

    private val askPermissions = registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { answers ->
        val granted = answers.filterValues { it }.keys.mapNotNull(::permissionOf).toSet()
        val state = status ?: return@registerForActivityResult
        lifecycleScope.launch { carryOut(state.permissionsAnswered(granted)) }
    }

    /** What MyStatusState decided, done with Android's means. */
    private fun carryOut(action: SharingAction) {
        when (action) {
            is SharingAction.AskPermissions -> askPermissions.launch(action.permissions.mapNotNull(::manifestName).toTypedArray())
            SharingAction.StartLocationService -> if (!LocationService.start(this)) LocationService.showPaused(this)
            SharingAction.StopLocationService -> {
                stopService(Intent(this, LocationService::class.java))
                LocationService.clearPaused(this)
            }
            SharingAction.Unchanged -> Unit
        }
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
            val state = status
            if (event == Lifecycle.Event.ON_RESUME && state != null) lifecycleScope.launch { carryOut(state.resumeSharing(grantedNow())) }
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
        var tab by remember { mutableStateOf(if (client == null) 2 else 0) }
        Scaffold(topBar = {
            // A new place detail or a saved account reopens the core (off the main thread).
            if (opening) Column {
                LinearProgressIndicator(Modifier.fillMaxWidth())
                Text(stringResource(R.string.opening_account), Modifier.padding(8.dp))
            }
        }, bottomBar = {
            NavigationBar {
                listOf(R.string.tab_status, R.string.tab_colleagues, R.string.tab_account, R.string.tab_about).forEachIndexed { i, label ->
                    NavigationBarItem(selected = tab == i, onClick = { tab = i }, icon = {}, label = { Text(stringResource(label)) })
                }
            }
        }) { padding ->
            Column(Modifier.padding(padding).padding(16.dp)) {
                val open = client
                when {
                    tab == 0 && open != null -> {
                        // A new client (the account changed) gets a new state.
                        val state = remember(open) { MyStatusState(open, app.lang) }
                        LaunchedEffect(state) {
                            status = state
                            carryOut(state.resumeSharing(grantedNow()))
                        }
                        MyStatusScreen(app, state, onSwitch = { on -> lifecycleScope.launch { carryOut(state.switchSharing(on)) } })
                    }
                    tab == 1 && open != null -> ColleaguesScreen(app, open)
                    tab == 3 -> AboutScreen(app)
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

fun permissionOf(name: String): Permission? = Permission.entries.firstOrNull { manifestName(it) == name }

@Composable
fun MyStatusScreen(app: PresenceApp, state: MyStatusState, onSwitch: (Boolean) -> Unit) {
    val ui by state.updates.collectAsState()
    var text by remember { mutableStateOf("") }
    var plan by remember { mutableStateOf("") }
    val scope = rememberCoroutineScope()
    Text(ui.activity, style = MaterialTheme.typography.headlineSmall)
    Row {
        listOf(ActivityToken.AVAILABLE, ActivityToken.ON_SITE, ActivityToken.DRIVING, ActivityToken.MEETING, ActivityToken.BREAK).forEach { kind ->
            FilterChip(selected = false, onClick = { scope.launch { state.setActivity(kind, text.ifBlank { null }) } },
                label = { Text(PresenceFormat.activityLabel(kind, app.lang)) })
        }
    }
    OutlinedTextField(text, { text = it }, label = { Text(stringResource(R.string.status_text_hint)) })
    OutlinedTextField(plan, { plan = it }, label = { Text(stringResource(R.string.plan_hint)) })
    Button(onClick = { scope.launch { state.addPlan(plan); plan = "" } }) { Text(stringResource(R.string.add_plan)) }
    ui.plans.forEach { Text(it) }
    Row {
        Text(stringResource(R.string.share_location))
        Switch(ui.sharing, onSwitch)
    }
    var granularityError by remember { mutableStateOf<String?>(null) }
    Row {
        Text(stringResource(R.string.granularity))
        listOf(
            org.mailpresence.Granularity.CITY to R.string.granularity_city,
            org.mailpresence.Granularity.DISTRICT to R.string.granularity_district,
            org.mailpresence.Granularity.STREET to R.string.granularity_street,
        ).forEach { (g, label) ->
            FilterChip(selected = false, onClick = {
                scope.launch { granularityError = (app.session.changeGranularity(g) as? SaveResult.Failed)?.message }
            }, label = { Text(stringResource(label)) })
        }
    }
    granularityError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    Text("${stringResource(R.string.current_address)}: ${ui.location}")
    Text(ui.lastPublish)
    ui.pending?.let { Text(it) }
    ui.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
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

@Composable
fun AccountScreen(app: PresenceApp) {
    var form by remember { mutableStateOf(app.session.form()) }
    var problems by remember { mutableStateOf(emptyList<AccountForm.Problem>()) }
    var result by remember { mutableStateOf(app.startError) }
    val scope = rememberCoroutineScope()
    OutlinedTextField(form.account, { form = form.copy(account = it) }, label = { Text(stringResource(R.string.account_name)) })
    OutlinedTextField(form.mail, { form = form.copy(mail = it) }, label = { Text(stringResource(R.string.mail_address)) })
    // The settings from the address alone; the fields below stay as the fallback.
    val notFound = stringResource(R.string.settings_not_found)
    Button(onClick = {
        scope.launch {
            result = runCatching { org.mailpresence.findMailSettings(form.mail.trim(), app.dnsServers()) }.fold(
                onSuccess = { found ->
                    if (found == null) notFound
                    else { form = form.withSettings(found) { kind, tenant -> app.provider(kind)?.let { p -> tenant?.let { p.copy(tenant = it) } ?: p } }; null }
                },
                onFailure = { (it as? PresenceException)?.let { e -> ErrorText.of(e, app.lang) } ?: it.toString() },
            )
        }
    }) { Text(stringResource(R.string.find_settings)) }
    val context = LocalContext.current
    Button(onClick = { context.startActivity(Intent(context, EnrolActivity::class.java)) }) { Text(stringResource(R.string.scan_code)) }
    SignInButtons(app)
    if (form.signIn == null) {
        OutlinedTextField(form.password, { form = form.copy(password = it) }, label = { Text(stringResource(R.string.password)) },
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password))
    }
    OutlinedTextField(form.presenceServer, { form = form.copy(presenceServer = it) }, label = { Text(stringResource(R.string.presence_server)) })
    OutlinedTextField(form.mailHost, { form = form.copy(mailHost = it) }, label = { Text(stringResource(R.string.mail_server)) })
    OutlinedTextField(form.imapPort, { form = form.copy(imapPort = it) }, label = { Text(stringResource(R.string.imap_port)) })
    OutlinedTextField(form.smtpPort, { form = form.copy(smtpPort = it) }, label = { Text(stringResource(R.string.smtp_port)) })
    OutlinedTextField(form.authservId, { form = form.copy(authservId = it) }, label = { Text(stringResource(R.string.authserv_id)) })
    problems.forEach { Text(it.text, color = MaterialTheme.colorScheme.error) }
    val ok = stringResource(R.string.connection_ok)
    val saved = stringResource(R.string.saved)
    Row {
        Button(onClick = {
            scope.launch {
                when (val r = app.session.save(form)) {
                    is SaveResult.Problems -> { problems = r.problems; result = null }
                    is SaveResult.Failed -> { problems = emptyList(); result = r.message }
                    SaveResult.Saved -> { problems = emptyList(); result = saved }
                }
            }
        }) { Text(stringResource(R.string.save)) }
        Button(onClick = {
            scope.launch {
                result = runCatching { app.client?.sync(); ok }.getOrElse {
                    (it as? PresenceException)?.let { e -> ErrorText.of(e, app.lang) } ?: it.toString()
                }
            }
        }) { Text(stringResource(R.string.test_connection)) }
    }
    result?.let { Text(it) }
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
