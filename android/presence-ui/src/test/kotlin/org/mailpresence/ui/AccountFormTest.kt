// The Account screen's form: the TLS mode each port needs (picked by the
// form, a mismatch refused), the company CA file, how a Notify is proven,
// and the text fields the shell draws, typed exactly (no autocorrect, no
// capitals) where they hold hosts, addresses and keys.
package org.mailpresence.ui

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.protocol.TlsMode

class AccountFormTest {
    private val good = AccountForm(
        account = "tanaka", mail = "tanaka@example.co.jp", password = "pw", presenceServer = "presence@example.co.jp",
        mailHost = "mail.example.co.jp", authservId = "mx.example.co.jp",
    )

    @Test fun `port 465 picks SSL-TLS, and a mismatch is refused with what to do`() {
        val smtps = good.withSmtpPort("465")
        assertEquals(TlsMode.IMPLICIT, smtps.smtpSecurity)
        assertEquals(emptyList<AccountForm.Problem>(), smtps.problems(Lang.JA))
        val mismatch = smtps.copy(smtpSecurity = TlsMode.STARTTLS).problems(Lang.JA)
        assertEquals(listOf(AccountForm.Problem(AccountForm.Field.SMTP_SECURITY, "ポート465は SSL/TLS（接続時から暗号化）が必要です")), mismatch)
        assertEquals(
            "Port 587 starts TLS with STARTTLS; SSL/TLS uses port 465",
            good.copy(smtpSecurity = TlsMode.IMPLICIT).problems(Lang.EN).single().text,
        )
        assertEquals(TlsMode.STARTTLS, good.withImapPort("143").imapSecurity)
        assertEquals(listOf(AccountForm.Field.IMAP_SECURITY), good.copy(imapSecurity = TlsMode.STARTTLS).problems(Lang.EN).map { it.field })
        // Choosing the mode brings the well-known port along; other ports stay.
        assertEquals("465", good.withSmtpSecurity(TlsMode.IMPLICIT).smtpPort)
        assertEquals("143", good.withImapSecurity(TlsMode.STARTTLS).imapPort)
        assertEquals("2525", good.copy(smtpPort = "2525").withSmtpSecurity(TlsMode.IMPLICIT).smtpPort)
        assertEquals(TlsMode.IMPLICIT, good.with(AccountForm.Field.SMTP_PORT, "465").smtpSecurity)
    }

    @Test fun `no encryption is refused except on this phone's own loopback`() {
        val plain = good.copy(imapPort = "1143", imapSecurity = TlsMode.NONE)
        assertEquals(
            "Without encryption the password goes out as it is. Choose SSL/TLS or STARTTLS",
            plain.problems(Lang.EN).single { it.field == AccountForm.Field.IMAP_SECURITY }.text,
        )
        assertEquals(emptyList<AccountForm.Problem>(), plain.copy(mailHost = "127.0.0.1").problems(Lang.EN))
        assertEquals(3, AccountForm.securityChoices(Lang.JA).size)
        assertEquals("なし（暗号化しない）", AccountForm.securityChoices(Lang.JA).last().second)
    }

    @Test fun `a company CA file goes to both servers, and a file without a certificate is refused`() {
        val dir = File(tempDir("mailpresence-ca"))
        val notPem = File(dir, "readme.txt").apply { writeText("not a certificate") }
        val refused = good.copy(caFile = notPem.path).problems(Lang.JA)
        assertEquals(listOf(AccountForm.Field.CA_FILE), refused.map { it.field })
        assertEquals(listOf(AccountForm.Field.CA_FILE), good.copy(caFile = File(dir, "missing.pem").path).problems(Lang.EN).map { it.field })
        val pem = File(dir, "company-ca.pem").apply { writeText("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") }
        val form = good.copy(caFile = pem.path)
        assertEquals(emptyList<AccountForm.Problem>(), form.problems(Lang.JA))
        val config = form.toConfig(Lang.JA)
        assertEquals(pem.path, config.imap.caFile)
        assertEquals(pem.path, config.smtp.caFile)
        assertNull(good.toConfig(Lang.JA).imap.caFile)
    }

    @Test fun `a Notify is proven by the server key or the mail system's authserv-id`() {
        val key = "A".repeat(43)
        val enrolled = good.copy(authservId = "", serverKey = key)
        assertEquals("with the server key the authserv-id may be left out", emptyList<AccountForm.Problem>(), enrolled.problems(Lang.JA))
        assertEquals(key, enrolled.toConfig(Lang.JA).serverKey)
        assertNull(enrolled.toConfig(Lang.JA).authservId)
        assertEquals("プレゼンスサーバーの署名で確認します（登録済み）", enrolled.proof(Lang.JA))
        assertEquals("Proven by the company mail system's verdict (authserv-id)", good.proof(Lang.EN))
        assertEquals(listOf(AccountForm.Field.SERVER_KEY), good.copy(serverKey = "not a key").problems(Lang.EN).map { it.field })
        assertEquals(listOf(AccountForm.Field.AUTHSERV_ID), good.copy(authservId = "").problems(Lang.EN).map { it.field })
    }

    @Test fun `the text fields the shell draws are typed exactly, and the password goes with a sign-in`() {
        val fields = good.fields(Lang.JA)
        assertTrue(fields.none { it.autoCorrect || it.autoCapitalize })
        assertEquals(AccountForm.Input.HOST, fields.single { it.field == AccountForm.Field.MAIL_HOST }.input)
        assertEquals(AccountForm.Input.MAIL_ADDRESS, fields.single { it.field == AccountForm.Field.MAIL }.input)
        assertEquals(AccountForm.Input.PASSWORD, fields.single { it.field == AccountForm.Field.PASSWORD }.input)
        assertEquals("メールサーバー", fields.single { it.field == AccountForm.Field.MAIL_HOST }.label)
        assertEquals("Mail server", good.fields(Lang.EN).single { it.field == AccountForm.Field.MAIL_HOST }.label)
        val microsoft = org.mailpresence.protocol.ProviderConfig(
            org.mailpresence.protocol.ProviderKind.MICROSOFT, "00000000-1111-2222-3333-444444444444", "example.co.jp", null, null, null, null, null,
        )
        assertTrue(good.copy(signIn = microsoft).fields(Lang.EN).none { it.field == AccountForm.Field.PASSWORD })
        // Every field the shell draws reads and writes its own value.
        var form = AccountForm()
        for (spec in fields) form = form.with(spec.field, "x-${spec.field}")
        for (spec in fields) assertEquals("x-${spec.field}", form.value(spec.field))
    }
}
