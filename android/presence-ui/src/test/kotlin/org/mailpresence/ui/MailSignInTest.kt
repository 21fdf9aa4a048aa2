// The sign-in's states (started, redirected, refreshed, revoked) against the
// real core and the tests' OAuth endpoint (scripts/oauth-endpoint.py, started
// by scripts/test-kotlin.sh): the browser is played by an HTTP request that
// does not follow the provider's redirect.
package org.mailpresence.ui

import java.net.HttpURLConnection
import java.net.URI
import java.net.URLEncoder
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.SignIn
import org.mailpresence.TokenStorage
import org.mailpresence.protocol.ProviderConfig
import org.mailpresence.protocol.ProviderKind

class MailSignInTest {
    private val base = System.getProperty("oauth.url").orEmpty().ifBlank { error("start scripts/oauth-endpoint.py and pass its URL as -Doauth.url (scripts/test-kotlin.sh does)") }
    private val redirect = "org.mailpresence.app:/oauth2redirect"
    private val provider = ProviderConfig(
        ProviderKind.CUSTOM, "mailpresence-phone", null, null,
        "$base/authorize", "$base/token", "$base/device", "$base/revoke",
    )

    class Keystore : TokenStorage {
        @Volatile var token: String? = null
        override fun load() = token
        override fun save(token: String) { this.token = token }
        override fun clear() { token = null }
    }

    private fun signIn(lang: Lang, keystore: Keystore) = MailSignIn(lang, SignIn(provider, redirect, keystore))

    /** What the browser does on the provider's page: signs in as `user` and is sent back. */
    private fun browser(url: String, user: String = "tanaka@example.test", deny: Boolean = false): String {
        val extra = "&user=" + URLEncoder.encode(user, "UTF-8") + if (deny) "&deny=1" else ""
        val http = URI(url + extra).toURL().openConnection() as HttpURLConnection
        http.instanceFollowRedirects = false
        try {
            assertEquals(302, http.responseCode)
            return http.getHeaderField("Location")
        } finally {
            http.disconnect()
        }
    }

    private fun revoke(token: String) {
        val http = URI("$base/revoke").toURL().openConnection() as HttpURLConnection
        http.requestMethod = "POST"
        http.doOutput = true
        http.outputStream.use { it.write("token=${URLEncoder.encode(token, "UTF-8")}".toByteArray()) }
        assertEquals(200, http.responseCode)
        http.disconnect()
    }

    @Test fun `started, redirected, refreshed, revoked`() {
        val keystore = Keystore()
        val s = signIn(Lang.JA, keystore)
        assertEquals(SignInState.SignedOut, s.state.value)

        val url = s.start()
        assertTrue(url, url.startsWith("$base/authorize?"))
        assertTrue(url, url.contains("code_challenge_method=S256"))
        assertEquals(SignInState.InBrowser(url), s.state.value)

        val back = browser(url)
        assertTrue(back, back.startsWith("$redirect?code="))
        assertEquals(SignInState.SignedIn, runBlocking { s.redirected(back) })
        val first = checkNotNull(keystore.token) { "no refresh token kept after the redirect" }

        assertEquals(SignInState.SignedIn, runBlocking { s.refresh() })
        val rotated = keystore.token!!
        assertNotEquals("the endpoint rotates refresh tokens", first, rotated)

        revoke(rotated)
        val after = runBlocking { s.refresh() }
        assertEquals(SignInState.SignInAgain("会社のアカウントへのサインインが切れました。もう一度サインインしてください。送信は保留されています。"), after)
        assertNull("a refused token is not kept", keystore.token)
        assertEquals(after, s.state.value)
    }

    @Test fun `a declined consent or a foreign redirect keeps no token, in words`() {
        val keystore = Keystore()
        val s = signIn(Lang.EN, keystore)
        val declined = browser(s.start(), deny = true)
        assertTrue(declined, declined.contains("error=access_denied"))
        assertEquals(SignInState.SignInAgain("The sign-in was not completed. Please sign in again."), runBlocking { s.redirected(declined) })
        assertNull(keystore.token)

        // A redirect made for another sign-in (its state) is refused, even with a good code.
        val other = signIn(Lang.EN, Keystore())
        val stolen = browser(other.start())
        s.start()
        assertTrue(runBlocking { s.redirected(stolen) } is SignInState.SignInAgain)
        assertNull(keystore.token)
    }

    @Test fun `closing the browser goes back, and signing out forgets the token`() {
        val keystore = Keystore()
        val s = signIn(Lang.JA, keystore)
        s.start()
        s.cancelled()
        assertEquals(SignInState.SignedOut, s.state.value)
        assertEquals(SignInState.SignedIn, runBlocking { s.redirected(browser(s.start())) })
        // A new screen over the same storage knows the person is signed in.
        assertEquals(SignInState.SignedIn, signIn(Lang.JA, keystore).state.value)
        assertEquals(SignInState.SignedOut, runBlocking { s.signOut() })
        assertNull(keystore.token)
    }

    @Test fun `an unreachable provider keeps the token and says so`() {
        val keystore = Keystore().apply { token = "kept" }
        val gone = ProviderConfig(ProviderKind.CUSTOM, "mailpresence-phone", null, null, "http://127.0.0.1:1/authorize", "http://127.0.0.1:1/token", null, null)
        val s = MailSignIn(Lang.EN, SignIn(gone, redirect, keystore))
        val after = runBlocking { s.refresh() }
        assertEquals(SignInState.Failed("The sign-in service cannot be reached. Try again where the network is better; you stay signed in."), after)
        assertEquals("kept", keystore.token)
    }
}
