// "Sign in with Microsoft" / "Sign in with Google": the sign-in's state for
// the Account screen, over the core's SignIn. The shell opens the URL of
// start() in a Custom Tab and hands back the address the browser was
// redirected to; everything else (state check, PKCE, the code exchange, the
// refresh token going to the Keystore-backed storage) happens in the core.
package org.mailpresence.ui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import org.mailpresence.PresenceException
import org.mailpresence.SignIn

sealed interface SignInState {
    /** No refresh token is kept: the button is shown. */
    data object SignedOut : SignInState

    /** The browser session is open on the provider's page. */
    data class InBrowser(val url: String) : SignInState

    /** The browser came back; the code is being exchanged. */
    data object Finishing : SignInState

    data object SignedIn : SignInState

    /** The provider refused (declined, revoked, expired): sign in again, in words. */
    data class SignInAgain(val message: String) : SignInState

    /** Not refused, only not done (no network): the token is kept, try later. */
    data class Failed(val message: String) : SignInState
}

class MailSignIn(private val lang: Lang, private val signIn: SignIn) {
    private val current = MutableStateFlow<SignInState>(
        if (signIn.isSignedIn()) SignInState.SignedIn else SignInState.SignedOut,
    )

    val state: StateFlow<SignInState> get() = current

    /** The provider's page to open in the browser session. */
    fun start(): String = try {
        signIn.begin().also { current.value = SignInState.InBrowser(it) }
    } catch (e: PresenceException) {
        current.value = SignInState.Failed(ErrorText.of(e, lang))
        throw e
    }

    /** The browser was closed without coming back: as before it opened. */
    fun cancelled() {
        if (current.value is SignInState.InBrowser) current.value = settled()
    }

    /** The address the browser was redirected to (the app's own). */
    suspend fun redirected(url: String): SignInState = outcome(notCompleted()) {
        current.value = SignInState.Finishing
        signIn.finish(url)
    }

    /** When the app opens or comes back: whether the sign-in still holds. */
    suspend fun refresh(): SignInState =
        if (!signIn.isSignedIn()) settled().also { current.value = it } else outcome { signIn.refresh() }

    suspend fun signOut(): SignInState = outcome { signIn.signOut() }

    private suspend fun outcome(refused: String? = null, work: suspend () -> Unit): SignInState {
        val next = try {
            work()
            settled()
        } catch (e: PresenceException.SignInAgain) {
            SignInState.SignInAgain(refused ?: ErrorText.of(e, lang))
        } catch (e: PresenceException.Unreachable) {
            SignInState.Failed(unreachable())
        } catch (e: PresenceException) {
            SignInState.Failed(ErrorText.of(e, lang))
        }
        current.value = next
        return next
    }

    /** A first sign-in that did not end well: nothing had "ended" yet. */
    private fun notCompleted() = when (lang) {
        Lang.JA -> "サインインが完了しませんでした。もう一度サインインしてください。"
        Lang.EN -> "The sign-in was not completed. Please sign in again."
    }

    private fun unreachable() = when (lang) {
        Lang.JA -> "サインインのサービスに接続できません。電波の良い場所で再度お試しください。サインインはそのままです。"
        Lang.EN -> "The sign-in service cannot be reached. Try again where the network is better; you stay signed in."
    }

    private fun settled(): SignInState =
        if (signIn.isSignedIn()) SignInState.SignedIn else SignInState.SignedOut
}
