// The Account screen in Compose: the text fields AccountForm describes (hosts,
// addresses and keys typed exactly: no autocorrect, no capitals), the TLS
// mode beside each port, the company CA file picked from the phone, how a
// Notify is proven, Save, and "Test connection" with the form as it is on
// the screen. It scrolls above the keyboard. Every check is in the plain layer.
package org.mailpresence.app

import android.content.Intent
import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.imePadding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.KeyboardCapitalization
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.text.input.VisualTransformation
import kotlinx.coroutines.launch
import org.mailpresence.PresenceException
import org.mailpresence.protocol.TlsMode
import org.mailpresence.ui.AccountForm
import org.mailpresence.ui.ErrorText
import org.mailpresence.ui.SaveResult
import org.mailpresence.ui.TestResult

/** The keyboard for what a field holds. */
private fun keyboardOf(input: AccountForm.Input): KeyboardType = when (input) {
    AccountForm.Input.MAIL_ADDRESS -> KeyboardType.Email
    AccountForm.Input.HOST, AccountForm.Input.KEY, AccountForm.Input.FILE -> KeyboardType.Uri
    AccountForm.Input.PORT -> KeyboardType.Number
    AccountForm.Input.PASSWORD -> KeyboardType.Password
    AccountForm.Input.NAME -> KeyboardType.Ascii
}

@Composable
private fun SecurityChoice(app: PresenceApp, chosen: TlsMode, choose: (TlsMode) -> Unit) = Row {
    AccountForm.securityChoices(app.lang).forEach { (mode, name) ->
        FilterChip(selected = chosen == mode, onClick = { choose(mode) }, label = { Text(name) })
    }
}

@Composable
fun AccountScreen(app: PresenceApp) {
    var form by remember { mutableStateOf(app.session.form()) }
    var problems by remember { mutableStateOf(emptyList<AccountForm.Problem>()) }
    var result by remember { mutableStateOf(app.startError) }
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    // The company CA: copied into the app's own storage, the core reads it there.
    val pickCa = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocument()) { uri: Uri? ->
        if (uri != null) {
            val copy = context.filesDir.resolve("company-ca.pem")
            runCatching { context.contentResolver.openInputStream(uri)?.use { input -> copy.outputStream().use { input.copyTo(it) } } }
            form = form.with(AccountForm.Field.CA_FILE, copy.path)
        }
    }
    Column(Modifier.verticalScroll(rememberScrollState()).imePadding()) {
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
        Button(onClick = { context.startActivity(Intent(context, EnrolActivity::class.java)) }) { Text(stringResource(R.string.scan_code)) }
        SignInButtons(app)
        form.fields(app.lang).forEach { spec ->
            val wrong = problems.filter { it.field == spec.field }
            if (spec.field == AccountForm.Field.CA_FILE) {
                Text("${spec.label}: ${form.caFile.ifBlank { "—" }}")
                Row {
                    Button(onClick = { pickCa.launch(arrayOf("application/x-pem-file", "application/x-x509-ca-cert", "text/plain", "*/*")) }) {
                        Text(stringResource(R.string.choose_file))
                    }
                    if (form.caFile.isNotBlank()) TextButton(onClick = { form = form.with(AccountForm.Field.CA_FILE, "") }) { Text(stringResource(R.string.remove)) }
                }
            } else {
                OutlinedTextField(
                    form.value(spec.field), { form = form.with(spec.field, it) },
                    label = { Text(spec.label) },
                    singleLine = true,
                    isError = wrong.isNotEmpty(),
                    visualTransformation = if (spec.input == AccountForm.Input.PASSWORD) PasswordVisualTransformation() else VisualTransformation.None,
                    keyboardOptions = KeyboardOptions(
                        capitalization = if (spec.autoCapitalize) KeyboardCapitalization.Sentences else KeyboardCapitalization.None,
                        autoCorrectEnabled = spec.autoCorrect,
                        keyboardType = keyboardOf(spec.input),
                    ),
                )
            }
            if (spec.field == AccountForm.Field.IMAP_PORT) SecurityChoice(app, form.imapSecurity) { form = form.withImapSecurity(it) }
            if (spec.field == AccountForm.Field.SMTP_PORT) SecurityChoice(app, form.smtpSecurity) { form = form.withSmtpSecurity(it) }
            val security = when (spec.field) {
                AccountForm.Field.IMAP_PORT -> AccountForm.Field.IMAP_SECURITY
                AccountForm.Field.SMTP_PORT -> AccountForm.Field.SMTP_SECURITY
                else -> null
            }
            (wrong + problems.filter { it.field == security }).forEach { Text(it.text, color = MaterialTheme.colorScheme.error) }
        }
        Text(form.proof(app.lang))
        val saved = stringResource(R.string.saved)
        Row {
            Button(onClick = {
                // Opens the core off the main thread (AccountSession).
                scope.launch {
                    when (val r = app.session.save(form)) {
                        is SaveResult.Problems -> { problems = r.problems; result = null }
                        is SaveResult.Failed -> { problems = emptyList(); result = r.message }
                        SaveResult.Saved -> { problems = emptyList(); result = saved }
                    }
                }
            }) { Text(stringResource(R.string.save)) }
            // The form as it is on the screen, saved or not.
            Button(onClick = {
                scope.launch {
                    when (val r = app.session.test(form, app.tokens)) {
                        is TestResult.Problems -> { problems = r.problems; result = null }
                        is TestResult.Failed -> { problems = emptyList(); result = r.message }
                        is TestResult.Passed -> { problems = emptyList(); result = r.message }
                    }
                }
            }) { Text(stringResource(R.string.test_connection)) }
        }
        result?.let { Text(it) }
    }
}
