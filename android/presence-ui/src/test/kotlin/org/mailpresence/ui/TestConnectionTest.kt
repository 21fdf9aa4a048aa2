// "Test connection" against the real Dovecot and Postfix of
// scripts/mail-servers.sh (their ports in MAILPRESENCE_*_PORT, their CA in
// MAILPRESENCE_MAIL_CA; scripts/test.sh starts them): the form being edited
// is tested, not the saved account; a wrong password, an unreachable server
// and an untrusted certificate each get their own words.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.protocol.TlsMode

class TestConnectionTest {
    private fun env(name: String): String = System.getenv(name)
        ?: error("$name is not set: start the mail servers (scripts/mail-servers.sh start; scripts/test.sh does)")

    /** Tanaka's account on the test servers, both over TLS from the start. */
    private fun realForm() = AccountForm(
        account = "tanaka", mail = "tanaka@example.test", password = "secret", presenceServer = "presence@example.test",
        mailHost = "127.0.0.1", imapPort = env("MAILPRESENCE_IMAPS_PORT"), imapSecurity = TlsMode.IMPLICIT,
        smtpPort = env("MAILPRESENCE_SMTPS_PORT"), smtpSecurity = TlsMode.IMPLICIT,
        authservId = "mx.example.test", caFile = env("MAILPRESENCE_MAIL_CA"),
    )

    private val session = AccountSession(Lang.JA, MemoryVault(), ColleaguesState(Lang.JA)) { config ->
        org.mailpresence.PresenceClient(config, tempDir("mailpresence-tested"), null).also { it.networkChanged(false) }
    }

    @Test fun `the form on the screen passes against the real servers, whatever is saved`() {
        assertEquals(SaveResult.Saved, runBlocking { session.save(offlineForm()) })
        assertEquals(TestResult.Passed("メールサーバーに接続できました（受信・送信とも）。"), runBlocking { session.test(realForm()) })
        // STARTTLS on both, the submission port.
        val starttls = realForm().copy(
            imapPort = env("MAILPRESENCE_IMAP_PORT"), imapSecurity = TlsMode.STARTTLS,
            smtpPort = env("MAILPRESENCE_SUBMISSION_PORT"), smtpSecurity = TlsMode.STARTTLS,
        )
        assertTrue(runBlocking { session.test(starttls) } is TestResult.Passed)
        session.close()
    }

    @Test fun `a wrong password is named, though the saved account is right`() {
        assertEquals(SaveResult.Saved, runBlocking { session.save(realForm()) })
        assertEquals(
            TestResult.Failed("メールサーバーにログインできません。ユーザー名とパスワードを確認してください。"),
            runBlocking { session.test(realForm().copy(password = "not-the-password")) },
        )
        session.close()
    }

    @Test fun `an unreachable server and an untrusted certificate each have their words`() {
        val unreachable = runBlocking { session.test(realForm().copy(imapPort = "1")) }
        assertEquals(TestResult.Failed("メールサーバーに接続できません。電波の良い場所で再度お試しください。送信は保留されています。"), unreachable)
        val smtpUnreachable = runBlocking { session.test(realForm().copy(smtpPort = "1")) }
        assertEquals(unreachable, smtpUnreachable)
        val noCa = runBlocking { session.test(realForm().copy(caFile = "")) }
        assertTrue("$noCa", noCa is TestResult.Failed && noCa.message.startsWith("メールサーバーの証明書を信頼できません。"))
        val english = AccountSession(Lang.EN, MemoryVault(), ColleaguesState(Lang.EN)) { error("not opened") }
        assertEquals(
            TestResult.Failed("The mail server cannot be reached. Your changes wait and go out when the network is back."),
            runBlocking { english.test(realForm().copy(imapPort = "1")) },
        )
    }

    @Test fun `a form with mistakes is not tried`() {
        val result = runBlocking { session.test(realForm().copy(smtpPort = "465", smtpSecurity = TlsMode.STARTTLS)) }
        assertEquals(listOf(AccountForm.Field.SMTP_SECURITY), (result as TestResult.Problems).problems.map { it.field })
    }
}
