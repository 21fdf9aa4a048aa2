// The redirect the app owns (org.mailpresence.app:/oauth2redirect): the
// Custom Tab comes back here with the provider's code or error; the address
// goes to the sign-in in progress and the Account screen shows the outcome.
package org.mailpresence.app

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import androidx.lifecycle.ProcessLifecycleOwner
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.launch

class SignInRedirectActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as PresenceApp
        val url = intent?.data?.toString()
        val signIn = app.signIn
        if (url != null && signIn != null) {
            // The exchange outlives this activity: it runs in the process's scope.
            ProcessLifecycleOwner.get().lifecycleScope.launch { app.signedIn(signIn.redirected(url)) }
        }
        startActivity(Intent(this, MainActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP))
        finish()
    }
}
