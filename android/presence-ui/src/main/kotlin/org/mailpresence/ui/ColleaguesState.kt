// The Colleagues screen's state: the rows, newest knowledge per colleague,
// fed by the core's listener (which calls from a background thread).
package org.mailpresence.ui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.MailRefused
import org.mailpresence.PresenceListener

data class ColleagueRow(val account: String, val text: String, val stale: Boolean)

class ColleaguesState(private val lang: Lang, private val clock: () -> Long = { System.currentTimeMillis() / 1000 }) : PresenceListener {
    private val known = MutableStateFlow<Map<String, ColleaguePresence>>(emptyMap())
    private val _connection = MutableStateFlow<String?>(null)
    private val _outbox = MutableStateFlow(0u)
    private val _published = MutableStateFlow<String?>(null)

    /** Rows sorted by account, as the list shows them. */
    fun rows(): List<ColleagueRow> {
        val now = clock()
        return known.value.values.sortedBy { it.presence.account }.map {
            ColleagueRow(it.presence.account, PresenceFormat.row(it.presence, now, lang), PresenceFormat.isStale(it, now))
        }
    }

    val colleagues: StateFlow<Map<String, ColleaguePresence>> get() = known
    /** A line for the status bar when the link to the mail server has a problem. */
    val connection: StateFlow<String?> get() = _connection
    val outboxDepth: StateFlow<UInt> get() = _outbox
    /** The location the last Publish carried (null while sharing is off or none is known). */
    val publishedLocation: StateFlow<String?> get() = _published

    override fun onColleague(colleague: ColleaguePresence) {
        known.update { it + (colleague.presence.account to colleague) }
    }

    override fun onPublished(location: String?) {
        _published.value = location
    }

    override fun onOutboxChanged(depth: UInt) {
        _outbox.value = depth
    }

    override fun onMailRefused(refused: MailRefused) {
        _connection.value = if (lang == Lang.JA) {
            "メールサーバーが送信を拒否しました (${refused.recipient}): ${refused.reason}"
        } else {
            "The mail server refused a mail to ${refused.recipient}: ${refused.reason}"
        }
    }

    override fun onConnection(status: ConnectionStatus) {
        _connection.value = when (status) {
            is ConnectionStatus.Connected -> null
            is ConnectionStatus.Offline -> if (lang == Lang.JA) "オフライン — 変更は送信待ちです" else "Offline — changes will be sent later"
            is ConnectionStatus.Failed -> ErrorText.of(status.error, lang)
        }
    }
}
