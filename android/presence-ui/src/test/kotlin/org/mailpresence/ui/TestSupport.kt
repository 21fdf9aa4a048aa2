// What the tests share: the repository's test data, a colleague's presence, a client whose mail
// server is not there (everything stays on the phone), a wait for what the
// core's threads will make true, and a vault in memory.
package org.mailpresence.ui

import java.io.File
import java.nio.file.Files
import org.junit.Assert.fail
import org.mailpresence.AccountConfig
import org.mailpresence.Granularity
import org.mailpresence.MailServer
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceView
import org.mailpresence.presenceView
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.protocol.TlsMode

/** The repository (Gradle and scripts/test-kotlin.sh pass repo.root). */
val root = File(System.getProperty("repo.root") ?: "../..")

/** Yamada in a meeting, as the golden Notify (protocol/tests/golden/notify-from-server.eml)
 *  carries him, made into the app's view by the real core. */
fun yamadaInAMeeting(language: String = "ja"): PresenceView = presenceView(
    "yamada", "sip:yamada@pbx.example.co.jp", ActivityToken.MEETING, "部長会議", null,
    listOf("13:00-15:00 部長会議", "15:00 在席予定"), 1_795_665_480L, language,
)

fun mapPack(): ByteArray = File(root, "assets/mappack.bin").readBytes()

fun tempDir(name: String): String = Files.createTempDirectory(name).toString()

/** A filled-in account form whose mail server does not answer (port 1). */
fun offlineForm() = AccountForm(
    account = "tanaka", mail = "tanaka@example.test", password = "pw",
    presenceServer = "presence@example.test", mailHost = "127.0.0.1", imapPort = "1", smtpPort = "1",
    authservId = "mx.example.test",
)

/** An account whose mail server is not there: everything stays on the phone. */
fun offlineClient(): PresenceClient {
    val server = MailServer("127.0.0.1", 1u, TlsMode.NONE, "tanaka@example.test", "pw", null)
    val config = AccountConfig("tanaka", "tanaka@example.test", "presence@example.test", "ja", server, server, Granularity.CITY)
    val client = PresenceClient(config, tempDir("mailpresence-app"), mapPack())
    client.networkChanged(false)
    return client
}

/** Waits up to five seconds for what a background thread will make true. */
fun eventually(what: String, condition: () -> Boolean) {
    val until = System.currentTimeMillis() + 5_000
    while (!condition()) {
        if (System.currentTimeMillis() > until) fail("never: $what")
        Thread.sleep(20)
    }
}

class MemoryVault(var form: AccountForm? = null) : AccountVault {
    override fun load() = form
    override fun save(form: AccountForm) { this.form = form }
}
