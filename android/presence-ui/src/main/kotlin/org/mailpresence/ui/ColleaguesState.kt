// The Colleagues screen's state: the colleagues the worker follows (kept by
// the core, so they are there at once after a restart, before any mail),
// finding more in the company directory by name, kana or romaji, following
// and unfollowing, and what a tap on a colleague can do (call the extension,
// call over SIP, write a mail). Fed by the core's listener, which calls from
// a background thread.
package org.mailpresence.ui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.DirectoryState
import org.mailpresence.MailRefused
import org.mailpresence.PhoneMessage
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.PresenceListener
import org.mailpresence.protocol.DirectoryEntry

/** One row of the list: a followed colleague, or one whose presence arrived. */
data class ColleagueRow(
    val account: String,
    /** 山田 花子, or the account when the directory does not know them yet. */
    val name: String,
    val text: String,
    val stale: Boolean,
    val followed: Boolean,
)

/** A search result: someone of the directory, and whether they are followed. */
data class FoundColleague(val entry: DirectoryEntry, val following: Boolean)

/** What a tap on a colleague offers; the shell opens `uri` with the platform. */
data class ContactAction(val kind: Kind, val uri: String, val label: String) {
    enum class Kind { CALL, SIP, MAIL }
}

class ColleaguesState(private val lang: Lang, private val clock: () -> Long = { System.currentTimeMillis() / 1000 }) : PresenceListener {
    private val known = MutableStateFlow<Map<String, ColleaguePresence>>(emptyMap())
    private val following = MutableStateFlow<List<String>>(emptyList())
    private val entries = MutableStateFlow<Map<String, DirectoryEntry>>(emptyMap())
    private val _directory = MutableStateFlow<DirectoryState?>(null)
    private val _connection = MutableStateFlow<String?>(null)
    private val _outbox = MutableStateFlow(0u)
    private val _published = MutableStateFlow<String?>(null)
    @Volatile private var client: PresenceClient? = null

    val colleagues: StateFlow<Map<String, ColleaguePresence>> get() = known
    /** The accounts followed, in the order they were followed. */
    val followed: StateFlow<List<String>> get() = following
    /** The directory kept on the phone (null before a client is attached). */
    val directory: StateFlow<DirectoryState?> get() = _directory
    /** A line for the status bar when the link to the mail server has a problem. */
    val connection: StateFlow<String?> get() = _connection
    val outboxDepth: StateFlow<UInt> get() = _outbox
    /** The location the last Publish carried (null while sharing is off or none is known). */
    val publishedLocation: StateFlow<String?> get() = _published

    /**
     * Shows what the core kept for [client] (the followed colleagues with their
     * last presence, the directory), and asks the server for the directory when
     * the phone has none yet. Call it after the client is opened.
     */
    suspend fun attach(client: PresenceClient) {
        this.client = client
        reloadFollowed(client)
        val state = client.directoryState()
        _directory.value = state
        rememberEntries(client.searchDirectory(""))
        // Queued whatever happens; a mail server that refuses it now is told
        // on the status line, as any send is, and it goes out later.
        if (state.receivedUnix == null) {
            try {
                client.requestDirectory(null)
            } catch (e: PresenceException) {
                _connection.value = ErrorText.of(e, lang)
            }
        }
    }

    /** Followed colleagues first, in the order they were followed; then the others whose presence arrived. */
    fun rows(): List<ColleagueRow> {
        val now = clock()
        val presences = known.value
        val followedNow = following.value
        val others = presences.keys.filter { it !in followedNow }.sorted()
        return (followedNow + others).map { account ->
            val presence = presences[account]
            val name = entries.value[account]?.name ?: account
            if (presence == null) {
                ColleagueRow(account, name, if (lang == Lang.JA) "まだ状態が届いていません" else "No presence yet", stale = false, followed = true)
            } else {
                ColleagueRow(account, name, PresenceFormat.row(presence.presence, now, lang), PresenceFormat.isStale(presence, now), account in followedNow)
            }
        }
    }

    /** Colleagues of the directory that [query] finds: name, reading (かな, カナ, romaji), extension, department. */
    fun search(query: String): List<FoundColleague> {
        val c = client ?: return emptyList()
        val found = c.searchDirectory(query)
        rememberEntries(found)
        val followedNow = following.value
        return found.map { FoundColleague(it, it.account in followedNow) }
    }

    /** Asks the server again (a colleague who joined, or a narrower query when the list was cut). */
    suspend fun refreshDirectory(query: String? = null) {
        client?.requestDirectory(query?.takeIf { it.isNotBlank() })
    }

    /** Follows colleagues; null when done, else what went wrong in words. */
    suspend fun follow(accounts: List<String>): String? = act { it.follow(accounts) }

    suspend fun unfollow(account: String): String? = act { it.unfollow(listOf(account)) }

    /** What a tap on [account] offers: the extension, a SIP call, a mail. */
    fun contactActions(account: String): List<ContactAction> {
        val entry = entries.value[account]
        val contact = known.value[account]?.presence?.contact
        val actions = mutableListOf<ContactAction>()
        entry?.extension?.let {
            actions += ContactAction(ContactAction.Kind.CALL, "tel:" + it.filter { c -> c.isDigit() || c in "+*#" }, if (lang == Lang.JA) "内線 $it に電話" else "Call ext. $it")
        }
        if (contact != null && (contact.startsWith("sip:") || contact.startsWith("sips:"))) {
            actions += ContactAction(ContactAction.Kind.SIP, contact, if (lang == Lang.JA) "SIPで発信" else "Call over SIP")
        }
        entry?.mail?.let { actions += ContactAction(ContactAction.Kind.MAIL, "mailto:$it", if (lang == Lang.JA) "メールを書く" else "Write a mail") }
        return actions
    }

    private suspend fun act(what: suspend (PresenceClient) -> Unit): String? {
        val c = client ?: return if (lang == Lang.JA) "先にアカウントを設定してください。" else "Set up the account first."
        return try {
            what(c)
            reloadFollowed(c)
            null
        } catch (e: PresenceException) {
            ErrorText.of(e, lang)
        }
    }

    private fun reloadFollowed(c: PresenceClient) {
        val list = c.followed()
        following.value = list.map { it.account }
        rememberEntries(list.mapNotNull { it.entry })
        known.update { map -> map + list.mapNotNull { f -> f.presence?.let { f.account to it } }.filter { (a, p) -> (map[a]?.receivedUnix ?: Long.MIN_VALUE) <= p.receivedUnix } }
    }

    private fun rememberEntries(list: List<DirectoryEntry>) {
        if (list.isNotEmpty()) entries.update { it + list.associateBy { e -> e.account } }
    }

    override fun onColleague(colleague: ColleaguePresence) {
        known.update { it + (colleague.presence.account to colleague) }
    }

    override fun onPhoneMessage(message: PhoneMessage) = Unit

    override fun onDirectory(listed: UInt, total: UInt) {
        val c = client ?: return
        _directory.value = c.directoryState()
        rememberEntries(c.searchDirectory(""))
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
