// The account behind the app: the saved form and the one PresenceClient
// opened from it. Save checks the form, opens a new client, and only when
// that worked keeps the form and closes the old client, so a mistake never
// crashes the app nor leaves it without the account that worked. "Test
// connection" logs in with the form as it is on the screen, saved or not.
// The shell supplies how a client is opened (its storage folder, the map
// pack) and where the form is kept (encrypted preferences). Opening a client
// reads the map pack and opens the phone's store: the work, and the vault's
// key-store reads, run on the `io` dispatcher, never on the caller's (the
// main thread: an ANR risk at launch and on every change of the place
// detail), one at a time; `opening` says when the screen should show that it
// is loading.
package org.mailpresence.ui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.mailpresence.AccountConfig
import org.mailpresence.Granularity
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.PresenceListener
import org.mailpresence.TokenStorage
import org.mailpresence.testConnection

/** Where the account form is kept between runs. */
interface AccountVault {
    fun load(): AccountForm?
    fun save(form: AccountForm)
}

sealed interface SaveResult {
    /** The form has mistakes; nothing was opened or kept. */
    data class Problems(val problems: List<AccountForm.Problem>) : SaveResult

    /** The core could not be opened, in words; the old client stays. */
    data class Failed(val message: String) : SaveResult

    data object Saved : SaveResult
}

sealed interface TestResult {
    /** The form has mistakes; nothing was tried. */
    data class Problems(val problems: List<AccountForm.Problem>) : TestResult

    /** A server refused or could not be reached, in words with what to do. */
    data class Failed(val message: String) : TestResult

    data class Passed(val message: String) : TestResult
}

class AccountSession(
    private val lang: Lang,
    private val vault: AccountVault,
    private val listener: PresenceListener,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    private val open: (AccountConfig) -> PresenceClient,
) {
    private val current = MutableStateFlow<PresenceClient?>(null)
    private val busy = MutableStateFlow(false)
    private val oneAtATime = Mutex()

    /** The client in use; a new one after every successful Save. */
    val client: StateFlow<PresenceClient?> get() = current

    /** True while an account is being opened (the screen shows it loading). */
    val opening: StateFlow<Boolean> get() = busy

    /** The form the Account screen starts from. */
    fun form(): AccountForm = vault.load() ?: AccountForm()

    /** At app start: opens the saved account, if any. Null, or why not. */
    suspend fun openSaved(): String? = work {
        val form = vault.load() ?: return@work null
        (replaceWith(form) as? SaveResult.Failed)?.message
    }

    suspend fun save(form: AccountForm): SaveResult = work { saveNow(form) }

    /** The place detail chosen on the status screen: the saved account again, with it. */
    suspend fun changeGranularity(granularity: Granularity): SaveResult = work {
        val form = vault.load() ?: return@work SaveResult.Failed(
            if (lang == Lang.JA) "先にアカウントを設定してください。" else "Set up the account first.",
        )
        saveNow(form.copy(granularity = granularity))
    }

    /** On `io`, one opening at a time (two quick taps open two clients in turn, never together). */
    private suspend fun <T> work(block: () -> T): T = oneAtATime.withLock {
        busy.value = true
        try {
            withContext(io) { block() }
        } finally {
            busy.value = false
        }
    }

    private fun saveNow(form: AccountForm): SaveResult {
        val problems = form.problems(lang)
        if (problems.isNotEmpty()) return SaveResult.Problems(problems)
        val result = replaceWith(form)
        if (result == SaveResult.Saved) vault.save(form)
        return result
    }

    /**
     * "Test connection": logs in to the IMAP and SMTP servers of [form] as
     * the screen holds it (not the saved account), sending nothing. With the
     * company's sign-in the refresh token comes from [tokens].
     */
    suspend fun test(form: AccountForm, tokens: TokenStorage? = null): TestResult {
        val problems = form.problems(lang)
        if (problems.isNotEmpty()) return TestResult.Problems(problems)
        return try {
            testConnection(form.toConfig(lang), tokens)
            TestResult.Passed(
                if (lang == Lang.JA) "メールサーバーに接続できました（受信・送信とも）。" else "Both mail servers took the login (receiving and sending).",
            )
        } catch (e: PresenceException) {
            TestResult.Failed(ErrorText.of(e, lang))
        }
    }

    /** Stops and releases the client (the app is going away). */
    fun close() {
        current.value?.let { it.stop(); it.close() }
        current.value = null
    }

    private fun replaceWith(form: AccountForm): SaveResult {
        val fresh = try {
            open(form.toConfig(lang))
        } catch (e: PresenceException) {
            return SaveResult.Failed(ErrorText.of(e, lang))
        }
        // The old client stops before the new one starts: never two senders.
        current.value?.let { it.stop(); it.close() }
        fresh.setListener(listener)
        fresh.start()
        current.value = fresh
        return SaveResult.Saved
    }
}
