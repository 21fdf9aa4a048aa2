// A phone set up from one scan: the enrolment code (made by the real server
// binary, scripts/enrolment-code.sh, passed by scripts/test-kotlin.sh) read
// through the core, the account form filled from it, the device key kept by
// the app's storage, and the Enrol and Publish mails signed with it.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.mailpresence.DeviceKeyStorage
import org.mailpresence.PresenceException
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.protocol.ProviderKind
import org.mailpresence.protocol.TlsMode
import org.mailpresence.readEnrolmentCode

class EnrolmentTest {
    private val code = System.getProperty("enrol.code").orEmpty()
        .ifBlank { error("pass a code from scripts/enrolment-code.sh as -Denrol.code (scripts/test-kotlin.sh does)") }

    class MemoryKeys : DeviceKeyStorage {
        @Volatile var key: String? = null
        override fun load() = key
        override fun save(key: String) { this.key = key }
    }

    @Test fun `a scanned code fills the form and leaves only the sign-in`() {
        val read = readEnrolmentCode(code)
        val form = AccountForm.fromEnrolment(read)
        assertEquals("tanaka", form.account)
        assertEquals("tanaka@example.co.jp", form.mail)
        assertEquals("presence@example.co.jp", form.presenceServer)
        assertEquals("outlook.office365.com", form.mailHost)
        assertEquals(TlsMode.IMPLICIT, form.imapSecurity)
        assertEquals("smtp.office365.com", form.smtpHost)
        assertEquals("587", form.smtpPort)
        assertEquals(TlsMode.STARTTLS, form.smtpSecurity)
        assertEquals("mx.example.co.jp", form.authservId)
        assertEquals(ProviderKind.MICROSOFT, form.signIn?.provider)
        assertEquals("example.co.jp", form.signIn?.tenant)
        // Microsoft 365: no password to type; the form is complete as scanned.
        assertEquals(emptyList<AccountForm.Problem>(), form.problems(Lang.JA))
        val config = form.toConfig(Lang.JA)
        assertEquals(read.serverKey, config.serverKey)
        assertEquals("smtp.office365.com", config.smtp.host)
        // What the app shows before trusting it: the key's fingerprint as the server prints it.
        assertTrue(read.serverKeyFingerprint, Regex("^([0-9A-F]{4} ){4}[0-9A-F]{4}$").matches(read.serverKeyFingerprint))
    }

    @Test fun `a changed or foreign code is refused in words`() {
        val i = code.length / 2
        val changed = code.substring(0, i) + (if (code[i] == 'A') 'B' else 'A') + code.substring(i + 1)
        for ((bad, why) in listOf(changed to "changed", "https://example.co.jp/" to "not a MailPresence enrolment code")) {
            try {
                readEnrolmentCode(bad)
                fail("read: $bad")
            } catch (e: PresenceException.InvalidInput) {
                assertTrue(e.detail, e.detail.contains(why))
            }
        }
    }

    @Test fun `the device key is kept by the app's storage and signs the Enrol and every Publish`() {
        val keys = MemoryKeys()
        val client = offlineClient()
        val id = client.useDeviceKey(keys)
        val kept = checkNotNull(keys.key) { "the new key went to the storage" }
        // The same storage gives the same key to the next client (the app restarted).
        val again = offlineClient()
        assertEquals(id, again.useDeviceKey(keys))
        assertEquals(kept, keys.key)
        again.close()

        runBlocking { client.enrol(readEnrolmentCode(code).token, "Pixel 8（田中）") }
        runBlocking { client.setStatus(ActivityToken.ON_SITE, "設備点検中") }
        val queued = client.queuedMails()
        assertEquals(2, queued.size)
        assertTrue(queued[0], queued[0].contains("Subject: Enrol"))
        for (mail in queued) {
            assertTrue(mail, mail.startsWith("MailPresence-Signature: v=1; k=$id; t="))
        }
        assertTrue(queued[1], queued[1].contains("Subject: Publish"))
        client.close()
    }
}
