// The location-sharing screen in Compose: the switch, the "sharing now"
// indicator, the permission prompts (why, denied, Open Settings), the shift
// and "share until". It draws SharingState and hands what it decides to
// MainActivity (`carryOut`), which asks Android and runs the service.
package org.mailpresence.app

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.Checkbox
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TimeInput
import androidx.compose.material3.rememberTimePickerState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.KeyboardCapitalization
import androidx.compose.ui.text.input.KeyboardType
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.mailpresence.ui.ClockTime
import org.mailpresence.ui.LocationAccess
import org.mailpresence.ui.SharingAction
import org.mailpresence.ui.SharingPrompt
import org.mailpresence.ui.SharingState

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SharingScreen(state: SharingState, access: () -> LocationAccess, carryOut: (SharingAction) -> Unit) {
    val ui by state.updates.collectAsState()
    val scope = rememberCoroutineScope()
    // The indicator changes by itself at a shift's edge or the end: look again then.
    LaunchedEffect(ui.nextChangeUnix) {
        val at = ui.nextChangeUnix ?: return@LaunchedEffect
        delay(maxOf(0L, at - System.currentTimeMillis() / 1000) * 1000 + 500)
        state.refresh()
    }
    Column(Modifier.verticalScroll(rememberScrollState())) {
        Row {
            Text(stringResource(R.string.share_location))
            Switch(ui.on, { on -> scope.launch { carryOut(if (on) state.switchOn(access()) else state.switchOff()) } })
        }
        Text(ui.indicator, color = if (ui.sharingNow) MaterialTheme.colorScheme.primary else Color.Unspecified)
        when (val prompt = ui.prompt) {
            is SharingPrompt.Rationale -> Card {
                Text(prompt.text)
                Row {
                    Button(onClick = { carryOut(state.rationaleAccepted()) }) { Text(stringResource(R.string.sharing_continue)) }
                    TextButton(onClick = { state.rationaleDeclined() }) { Text(stringResource(R.string.sharing_not_now)) }
                }
            }
            is SharingPrompt.Denied -> Text(prompt.text, color = MaterialTheme.colorScheme.error)
            is SharingPrompt.DeniedForGood -> Card {
                Text(prompt.text)
                Button(onClick = { carryOut(state.openSettings()) }) { Text(prompt.button) }
            }
            SharingPrompt.None -> Unit
        }

        var hours by remember(ui.workingHours) { mutableStateOf(ui.workingHours) }
        OutlinedTextField(
            hours, { hours = it },
            label = { Text(stringResource(R.string.sharing_hours)) },
            placeholder = { Text("08:00-19:00") },
            singleLine = true,
            keyboardOptions = KeyboardOptions(capitalization = KeyboardCapitalization.None, autoCorrectEnabled = false, keyboardType = KeyboardType.Ascii),
        )
        Button(onClick = { scope.launch { state.setWorkingHours(hours) } }) { Text(stringResource(R.string.sharing_set)) }

        var ends by remember { mutableStateOf(ui.until != null) }
        val until = rememberTimePickerState(18, 0, is24Hour = true)
        Row {
            Checkbox(ends, { on -> ends = on; if (!on) scope.launch { state.setUntil(null) } })
            Text(stringResource(R.string.sharing_until))
        }
        if (ends) {
            TimeInput(until)
            Button(onClick = { scope.launch { state.setUntil(ClockTime(until.hour, until.minute)) } }) { Text(stringResource(R.string.sharing_set)) }
        }
        ui.until?.let { Text(it) }
        ui.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}
