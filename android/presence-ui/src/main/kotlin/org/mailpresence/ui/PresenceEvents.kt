// The core's one listener handed to every screen that follows it: the client
// takes a single PresenceListener (setListener replaces the earlier one), and
// the Colleagues list, My status and Sharing each want its events. Screens
// come and go; each adds itself while it shows and closes its subscription.
package org.mailpresence.ui

import java.util.concurrent.CopyOnWriteArrayList
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.MailRefused
import org.mailpresence.PhoneMessage
import org.mailpresence.PresenceListener

class PresenceEvents : PresenceListener {
    private val listeners = CopyOnWriteArrayList<PresenceListener>()

    /** [listener] hears every event until the returned subscription is closed. */
    fun add(listener: PresenceListener): AutoCloseable {
        listeners += listener
        return AutoCloseable { listeners -= listener }
    }

    override fun onColleague(colleague: ColleaguePresence) = listeners.forEach { it.onColleague(colleague) }
    override fun onPublished(location: String?) = listeners.forEach { it.onPublished(location) }
    override fun onOutboxChanged(depth: UInt) = listeners.forEach { it.onOutboxChanged(depth) }
    override fun onConnection(status: ConnectionStatus) = listeners.forEach { it.onConnection(status) }
    override fun onMailRefused(refused: MailRefused) = listeners.forEach { it.onMailRefused(refused) }
    override fun onDirectory(listed: UInt, total: UInt) = listeners.forEach { it.onDirectory(listed, total) }
    override fun onPhoneMessage(message: PhoneMessage) = listeners.forEach { it.onPhoneMessage(message) }
}
