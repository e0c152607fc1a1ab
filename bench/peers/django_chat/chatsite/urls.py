"""Only a health check, which the benchmark polls until the server is up (the tutorial's HTML
pages are not needed: clients open the WebSocket directly)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("healthz", healthz)]
