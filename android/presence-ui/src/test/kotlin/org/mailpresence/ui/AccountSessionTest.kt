// Saving the account: mistakes named, the core opened, the old client closed,
// failures in words; all against the real core.
package org.mailpresence.ui

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotSame
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.runBlocking
import java.util.concurrent.Executors
import org.junit.Test
import org.mailpresence.AccountConfig
import org.mailpresence.Granularity
import org.mailpresence.PresenceClient

class AccountSessionTest {
    private val dir = tempDir("mailpresence-session")
    private val opened = mutableListOf<AccountConfig>()
    private fun session(vault: MemoryVault, storage: () -> String = { dir }) =
        AccountSession(Lang.JA, vault, ColleaguesState(Lang.JA)) { config ->
            opened += config
            PresenceClient(config, storage(), mapPack()).also { it.networkChanged(false) }
        }

    @Test fun `the account form names every mistake`() {
        val bad = AccountForm(account = "田中 太郎", mail = "tanaka", presenceServer = "presence@", mailHost = "", imapPort = "99999")
        assertEquals(setOf(
            AccountForm.Field.ACCOUNT, AccountForm.Field.MAIL, AccountForm.Field.PASSWORD,
            AccountForm.Field.PRESENCE_SERVER, AccountForm.Field.MAIL_HOST, AccountForm.Field.IMAP_PORT,
            AccountForm.Field.AUTHSERV_ID,
        ), bad.problems(Lang.EN).map { it.field }.toSet())
        assertEquals("ポート番号は1〜65535です", bad.problems(Lang.JA).first { it.field == AccountForm.Field.IMAP_PORT }.text)
        assertEquals(emptyList<AccountForm.Problem>(), AccountForm("tanaka", "tanaka@example.co.jp", "pw", "presence@example.co.jp", "mail.example.co.jp", authservId = "mx.example.co.jp").problems(Lang.JA))
    }

    @Test fun `the mail system's authserv-id is asked for, says why, and reaches the core`() = runBlocking<Unit> {
        val missing = offlineForm().copy(authservId = " ").problems(Lang.EN)
        assertEquals(listOf(AccountForm.Field.AUTHSERV_ID), missing.map { it.field })
        assertTrue(missing.single().text, missing.single().text.contains("no colleague's presence can be shown"))
        assertEquals(listOf(AccountForm.Field.AUTHSERV_ID), offlineForm().copy(authservId = "mx example; dkim=pass").problems(Lang.JA).map { it.field })
        val vault = MemoryVault()
        assertEquals(SaveResult.Saved, session(vault).save(offlineForm().copy(authservId = " mx.example.co.jp ")))
        assertEquals("mx.example.co.jp", opened.last().authservId)
        assertEquals(" mx.example.co.jp ", vault.form?.authservId)
    }

    @Test fun `a worker signed in with Microsoft types no password, and the core gets the sign-in`() {
        val microsoft = org.mailpresence.protocol.ProviderConfig(
            org.mailpresence.protocol.ProviderKind.MICROSOFT, "00000000-1111-2222-3333-444444444444", "example.co.jp", null, null, null, null, null,
        )
        val form = offlineForm().copy(password = "", signIn = microsoft)
        assertEquals(emptyList<AccountForm.Problem>(), form.problems(Lang.JA))
        assertEquals(listOf(AccountForm.Field.PASSWORD), form.copy(signIn = null).problems(Lang.JA).map { it.field })
        val config = form.toConfig(Lang.JA)
        assertEquals(microsoft, config.oauth)
        assertNull("no password goes to the core", config.imap.password)
        assertNull(config.smtp.password)
        assertEquals("tanaka@example.test", config.imap.user)
        val tokens = MailSignInTest.Keystore().apply { token = "rt-from-the-keystore" }
        val client = org.mailpresence.PresenceClient.withSignIn(config, tempDir("mailpresence-signed-in"), mapPack(), tokens)
        assertEquals("tanaka", client.ownPresence().account)
        client.close()
    }

    @Test fun `a Gmail address fills the form and offers the Google sign-in`() {
        val found = kotlinx.coroutines.runBlocking { org.mailpresence.findMailSettings("yamada@gmail.com", emptyList()) }
            ?: error("the core knows Gmail")
        val google = org.mailpresence.protocol.ProviderConfig(
            org.mailpresence.protocol.ProviderKind.GOOGLE, "1234.apps.googleusercontent.com", null, null, null, null, null, null,
        )
        val form = AccountForm(account = "yamada", mail = "yamada@gmail.com").withSettings(found) { kind, _ ->
            google.takeIf { kind == org.mailpresence.protocol.ProviderKind.GOOGLE }
        }
        assertEquals("imap.gmail.com", form.mailHost)
        assertEquals("993", form.imapPort)
        assertEquals(org.mailpresence.protocol.TlsMode.IMPLICIT, form.imapSecurity)
        assertEquals("smtp.gmail.com", form.smtpHost)
        assertEquals(google, form.signIn)
        val config = form.copy(presenceServer = "presence@example.co.jp", authservId = "mx.google.com").toConfig(Lang.JA)
        assertEquals("smtp.gmail.com", config.smtp.host)
        assertEquals("imap.gmail.com", config.imap.host)
        // No registration for the provider: the settings still fill in, the password stays asked for.
        val unregistered = AccountForm(mail = "yamada@gmail.com").withSettings(found) { _, _ -> null }
        assertNull(unregistered.signIn)
        assertEquals(AccountForm.Field.PASSWORD in unregistered.problems(Lang.EN).map { it.field }, true)
    }

    @Test fun `a form with mistakes opens nothing and keeps nothing`() = runBlocking<Unit> {
        val vault = MemoryVault()
        val s = session(vault)
        val result = s.save(offlineForm().copy(mail = "tanaka"))
        assertTrue("$result", result is SaveResult.Problems)
        assertEquals(listOf(AccountForm.Field.MAIL), (result as SaveResult.Problems).problems.map { it.field })
        assertTrue(opened.isEmpty())
        assertNull(vault.form)
        assertNull(s.client.value)
    }

    @Test fun `Save opens the core and keeps the form, and the next Save closes the old client`() = runBlocking<Unit> {
        val vault = MemoryVault()
        val s = session(vault)
        assertEquals(SaveResult.Saved, s.save(offlineForm()))
        val first = s.client.value!!
        assertEquals("tanaka", first.ownPresence().account)
        assertEquals(offlineForm(), vault.form)

        assertEquals(SaveResult.Saved, s.save(offlineForm().copy(account = "tanaka2")))
        val second = s.client.value!!
        assertNotSame(first, second)
        assertEquals("tanaka2", second.ownPresence().account)
        assertEquals("tanaka2", vault.form!!.account)
        try {
            first.ownPresence()
            fail("the old client still answers")
        } catch (e: IllegalStateException) {
            // closed: UniFFI refuses calls on a destroyed object
        }
        s.close()
        assertNull(s.client.value)
    }

    @Test fun `a client that cannot be opened is an error in words, and the old one stays`() = runBlocking<Unit> {
        val vault = MemoryVault()
        var storage = dir
        val s = session(vault) { storage }
        assertEquals(SaveResult.Saved, s.save(offlineForm()))
        val working = s.client.value!!
        storage = File(dir, "a-file").apply { writeText("not a folder") }.path
        val result = s.save(offlineForm().copy(account = "suzuki"))
        assertEquals(SaveResult.Failed("端末の保存領域に書き込めません。"), result)
        assertSame(working, s.client.value)
        assertEquals("tanaka", working.ownPresence().account)
        assertEquals("tanaka", vault.form!!.account)
        s.close()
    }

    @Test fun `the saved account opens at start, and a new place detail reopens it`() = runBlocking<Unit> {
        val vault = MemoryVault(offlineForm())
        val s = session(vault)
        assertNull(s.openSaved())
        assertEquals(Granularity.CITY, opened.single().granularity)
        assertEquals(SaveResult.Saved, s.changeGranularity(Granularity.DISTRICT))
        assertEquals(Granularity.DISTRICT, opened.last().granularity)
        assertEquals(Granularity.DISTRICT, vault.form!!.granularity)
        s.close()
    }

    @Test fun `the core is opened off the caller's thread, and the screen can show it loading`() = runBlocking<Unit> {
        val io = Executors.newSingleThreadExecutor { Thread(it, "account-io") }
        val seen = mutableListOf<Pair<String, Boolean>>()
        lateinit var s: AccountSession
        s = AccountSession(Lang.JA, MemoryVault(offlineForm()), ColleaguesState(Lang.JA), io.asCoroutineDispatcher()) { config ->
            seen += Thread.currentThread().name to s.opening.value
            PresenceClient(config, dir, mapPack()).also { it.networkChanged(false) }
        }
        assertEquals(false, s.opening.value)
        assertNull(s.openSaved())
        assertEquals(SaveResult.Saved, s.changeGranularity(Granularity.STREET))
        // Both openings on the io thread, each while `opening` said so; done now.
        assertEquals(listOf("account-io" to true, "account-io" to true), seen)
        assertEquals(false, s.opening.value)
        s.close()
        io.shutdown()
    }

    @Test fun `a new place detail without an account says so`() = runBlocking<Unit> {
        val s = session(MemoryVault())
        assertEquals(SaveResult.Failed("先にアカウントを設定してください。"), s.changeGranularity(Granularity.STREET))
    }
}
