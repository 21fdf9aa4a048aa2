// The My status screen in Compose: it draws MyStatusState (which follows the
// core's events) and forwards taps; the choices, the end of a status, the
// plans and every text come from the plain layer.
package org.mailpresence.app

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TimeInput
import androidx.compose.material3.rememberTimePickerState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.res.stringResource
import kotlinx.coroutines.launch
import org.mailpresence.Granularity
import org.mailpresence.ui.ClockTime
import org.mailpresence.ui.MyStatusState
import org.mailpresence.ui.SaveResult

@OptIn(ExperimentalMaterial3Api::class, ExperimentalLayoutApi::class)
@Composable
fun MyStatusScreen(app: PresenceApp, state: MyStatusState) {
    val ui by state.updates.collectAsState()
    var note by remember(ui.note) { mutableStateOf(ui.note) }
    var plan by remember { mutableStateOf("") }
    var timed by remember { mutableStateOf(false) }
    val start = remember { state.defaultReturn() }
    val until = rememberTimePickerState(start.hour, start.minute, is24Hour = true)
    val back = rememberTimePickerState(start.hour, start.minute, is24Hour = true)
    val scope = rememberCoroutineScope()
    Column(Modifier.verticalScroll(rememberScrollState())) {
        Text(ui.activity, style = MaterialTheme.typography.headlineSmall)
        ui.endsAt?.let { Text(it) }
        FlowRow {
            ui.choices.forEach { choice ->
                FilterChip(
                    selected = choice.selected,
                    onClick = { scope.launch { state.setActivity(choice.kind, note, if (timed) ClockTime(until.hour, until.minute) else null) } },
                    label = { Text(choice.label, maxLines = 1) },
                )
            }
        }
        OutlinedTextField(note, { note = it }, label = { Text(stringResource(R.string.status_text_hint)) })
        Row {
            Checkbox(timed, { timed = it })
            Text(stringResource(R.string.status_until))
        }
        if (timed) TimeInput(until)

        Text(stringResource(R.string.return_time), style = MaterialTheme.typography.titleSmall)
        TimeInput(back)
        FlowRow {
            state.presets(ClockTime(back.hour, back.minute)).forEach { preset ->
                AssistChip(onClick = { scope.launch { state.addPreset(preset) } }, label = { Text(preset.label) })
            }
        }
        OutlinedTextField(plan, { plan = it }, label = { Text(stringResource(R.string.plan_hint)) })
        Button(onClick = { scope.launch { state.addPlan(plan); plan = "" } }) { Text(stringResource(R.string.add_plan)) }
        ui.plans.forEach { Text(it) }
        if (ui.plans.isNotEmpty()) {
            TextButton(onClick = { scope.launch { state.clearPlans() } }) { Text(stringResource(R.string.clear_plans)) }
        }

        var granularityError by remember { mutableStateOf<String?>(null) }
        Row {
            Text(stringResource(R.string.granularity))
            listOf(
                Granularity.CITY to R.string.granularity_city,
                Granularity.DISTRICT to R.string.granularity_district,
                Granularity.STREET to R.string.granularity_street,
            ).forEach { (g, label) ->
                FilterChip(selected = app.session.form().granularity == g, onClick = {
                    // Reopens the core off the main thread (AccountSession).
                    scope.launch { granularityError = (app.session.changeGranularity(g) as? SaveResult.Failed)?.message }
                }, label = { Text(stringResource(label)) })
            }
        }
        granularityError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Text("${stringResource(R.string.current_address)}: ${ui.location}")
        Text(ui.lastPublish)
        ui.pending?.let { Text(it, color = if (ui.outboxFull) MaterialTheme.colorScheme.error else Color.Unspecified) }
        ui.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}
