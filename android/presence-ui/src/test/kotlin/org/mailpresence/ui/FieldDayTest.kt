// A field worker's day through the app's plain layer, against the real core,
// real Dovecot and Postfix (with OpenDKIM proving the server's mail) and a
// real presence server (scripts/presence-server.sh; scripts/test-kotlin.sh
// starts them all and passes their ports): the followed colleagues come back
// from the store after a restart, colleagues are found by name and followed,
// the worker's own status and plan reach a colleague's phone, and so do a
// colleague's changes; sharing off means no place in the next Publish; a
// wrong password and an unreachable server each say what is wrong.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.mailpresence.AccountConfig
import org.mailpresence.PresenceClient
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.protocol.TlsMode

/** The test office's mail world, as scripts/test-kotlin.sh passes it. */
private object Office {
    private fun prop(name: String): String = System.getProperty(name)
        ?: fail("system property $name is missing: run scripts/test-kotlin.sh, which starts the mail and presence servers") as Nothing

    val imapPort get() = prop("mail.imap.port")
    val submissionPort get() = prop("mail.submission.port")
    val ca get() = prop("mail.ca")
    val authservId get() = prop("mail.authserv")
    val domain get() = prop("mail.domain")
    val presence get() = prop("presence.address")

    /** A person's account form, as a worker (or their enrolment code) fills it in. */
    fun form(account: String, password: String = "secret", imapPort: String = this.imapPort) = AccountForm(
        account = account, mail = "$account@$domain", password = password, presenceServer = presence,
        mailHost = "127.0.0.1", imapPort = imapPort, imapSecurity = TlsMode.STARTTLS,
        smtpPort = submissionPort, smtpSecurity = TlsMode.STARTTLS, authservId = authservId,
    )

    /** The company's CA, which the test mail servers' certificates come from. */
    fun withCa(config: AccountConfig) = config.copy(imap = config.imap.copy(caFile = ca), smtp = config.smtp.copy(caFile = ca))
}

/** One phone: its storage folder, its saved account, the screens' state. */
private class Phone(val form: AccountForm, val dir: String = tempDir("mailpresence-phone-${form.account}"), clock: () -> Long = { FIXED_NOW }) {
    val colleagues = ColleaguesState(Lang.JA, clock)
    val session = AccountSession(Lang.JA, MemoryVault(form), colleagues) { config ->
        PresenceClient(Office.withCa(config), dir, mapPack())
    }
    val client: PresenceClient get() = session.client.value ?: fail("no client: ${session.form()}") as Nothing

    /** Opens the saved account, as the app does at launch. */
    fun launch(): Phone {
        runBlocking {
            assertNull(session.openSaved())
            colleagues.attach(client)
        }
        return this
    }

    fun close() = session.close()

    companion object {
        /** The screens' clock: rows read the same before and after a restart. */
        val FIXED_NOW = System.currentTimeMillis() / 1000 + 60
    }
}

/** Waits up to a minute for what mail through Postfix, Dovecot and the presence server will make true. */
private fun viaMail(what: String, condition: () -> Boolean) {
    val until = System.currentTimeMillis() + 60_000
    while (!condition()) {
        if (System.currentTimeMillis() > until) fail("never, within a minute: $what")
        Thread.sleep(100)
    }
}

class FieldDayTest {
    @Test fun `a field worker's day`() {
        val yamada = Phone(Office.form("yamada")).launch()
        var tanaka = Phone(Office.form("tanaka")).launch()
        try {
            // Morning: the directory arrives; two colleagues found by name and followed.
            viaMail("tanaka's phone has the directory") { (tanaka.colleagues.directory.value?.listed ?: 0u) >= 3u }
            val byReading = tanaka.colleagues.search("やまだ")
            assertEquals(listOf("山田 花子"), byReading.map { it.entry.name })
            val byRomaji = tanaka.colleagues.search("suzuki")
            assertEquals(listOf("鈴木 一郎"), byRomaji.map { it.entry.name })
            assertEquals(null, runBlocking { tanaka.colleagues.follow(listOf(byReading.single().entry.account, byRomaji.single().entry.account)) })
            assertEquals(listOf("yamada", "suzuki"), tanaka.colleagues.followed.value)
            assertTrue(tanaka.colleagues.search("yamada").single().following)
            // Tapping 山田 offers her extension and a mail.
            assertEquals(listOf("tel:2301", "mailto:yamada@${Office.domain}"), tanaka.colleagues.contactActions("yamada").map { it.uri })

            // 山田 follows 田中 from her phone; 田中 goes out, back at 15:00.
            assertEquals(null, runBlocking { yamada.colleagues.follow(listOf("tanaka")) })
            val myStatus = MyStatusState(tanaka.client, Lang.JA)
            runBlocking { myStatus.setActivity(null, "外出中"); myStatus.addPlan("15:00 帰社") }
            viaMail("山田's phone shows 田中 out until 15:00") {
                yamada.colleagues.rows().any { it.account == "tanaka" && "外出中" in it.text && "15:00" in it.text && "帰社" in it.text }
            }

            // 山田's meeting reaches 田中's phone.
            runBlocking { MyStatusState(yamada.client, Lang.JA).setActivity(ActivityToken.MEETING, "部長会議") }
            viaMail("田中's phone shows 山田 in her meeting") {
                tanaka.colleagues.rows().any { it.account == "yamada" && "会議中（部長会議）" in it.text }
            }
            val before = tanaka.colleagues.rows()
            assertEquals(listOf("山田 花子", "鈴木 一郎"), before.map { it.name })

            // The app is killed and opened again: the same screen at once, before any mail.
            tanaka.close()
            tanaka = Phone(tanaka.form, tanaka.dir).launch()
            assertEquals(before, tanaka.colleagues.rows())

            // Sharing on: 山田 sees where 田中 is; off: the next Publish carries no place.
            val status = MyStatusState(tanaka.client, Lang.JA)
            runBlocking { tanaka.client.setLocationSharing(null, null, false); status.locationFix(35.6812, 139.7671, 10.0) }
            viaMail("山田's phone shows where 田中 is") {
                yamada.colleagues.colleagues.value["tanaka"]?.presence?.location?.contains("千代田区") == true
            }
            runBlocking { tanaka.client.stopLocationSharing(); status.setActivity(ActivityToken.DRIVING, null) }
            viaMail("山田's phone shows 田中 driving, with no place") {
                val p = yamada.colleagues.colleagues.value["tanaka"]?.presence
                p?.activity == ActivityToken.DRIVING && p.location == null
            }
        } finally {
            tanaka.close()
            yamada.close()
        }
    }

    @Test fun `a wrong password and an unreachable server each say what is wrong`() {
        val wrong = Phone(Office.form("sato", password = "not-the-password")).launch()
        val away = Phone(Office.form("sato", imapPort = "1")).launch()
        try {
            viaMail("the wrong password is told") {
                wrong.colleagues.connection.value?.contains("パスワード") == true
            }
            viaMail("the unreachable server is told") {
                away.colleagues.connection.value?.contains("接続できません") == true
            }
            assertTrue(wrong.colleagues.connection.value != away.colleagues.connection.value)
        } finally {
            wrong.close()
            away.close()
        }
    }
}
